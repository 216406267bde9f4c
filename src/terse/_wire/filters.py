"""Filters the assembler runs answer text through before keeping it. Pure, no I/O.

- `Prefill`: a reply that continues the caller's own assistant text (a prefill) is that
  text plus the continuation, whether the server repeats the prefill or not.
- `_CloseDrop`: in a conclusion (terse closed the think block itself) every piece is
  answer; a closing think tag the model writes anyway is left out.
- `LeakFilter`: a model family's channel word leaked at the start of the answer
  (``final``, ``assistantfinal``, …) is dropped.
"""

from __future__ import annotations

from .formats import FORMATS
from .scan import _tail_candidate

__all__ = ["LeakFilter", "Prefill", "drop_leaked"]


_CLOSES = tuple(sorted({c for f in FORMATS if not f.word_delimiters for c in f.closes}, key=len))[
    ::-1
]
_CLOSE_FIRSTS = "".join(sorted({c[0] for c in _CLOSES}))
_CLOSE_HOLD = max(len(c) for c in _CLOSES) - 1


class _CloseDrop:
    """Streams answer text as it comes, without the closing think tags a model writes in it.

    Used for a conclusion: terse closed the think block itself, so every piece is answer;
    a model that closes it once more leaves only its tag out. At most a possible partial
    tag (the longest closing delimiter minus one character) is held back.
    """

    __slots__ = ("_held", "_started")

    def __init__(self) -> None:
        self._held = ""
        self._started = False

    def feed(self, text: str, final: bool = False) -> str:
        buf = self._held + text
        if any(c in buf for c in _CLOSES):
            for close in _CLOSES:
                buf = buf.replace(close, "")
        cut = len(buf) if final else _tail_candidate(buf, _CLOSES, _CLOSE_FIRSTS, _CLOSE_HOLD)
        out, self._held = buf[:cut], buf[cut:]
        if not self._started:
            out = out.lstrip()
            self._started = bool(out)
        return out


class Prefill:
    """Normalises a continued assistant prefill to the whole message.

    llama.cpp repeats the prefill at the start of ``content``; other servers send only
    the continuation. Either way the answer is the prefill plus the continuation. Content
    is held until it is as long as the prefill (or the stream ends), then released once.
    """

    __slots__ = ("_head", "done", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._head = ""  # content held while a repeated prefill may be forming
        self.done = False

    @property
    def holding(self) -> bool:
        """Whether content is held, waiting to be compared with the prefill."""
        return bool(self._head)

    def take(self, content: str, final: bool = False) -> str:
        """Take content; return what it releases ("" while still held)."""
        self._head += content
        if len(self._head) < len(self.text) and not final:
            return ""
        head, self._head, self.done = self._head, "", True
        return head if head.startswith(self.text) else self.text + head


class LeakFilter:
    """Holds the start of the answer until a leaked channel word can be recognised."""

    __slots__ = ("_held", "_longest", "_prefixes", "checked")

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self._prefixes = prefixes
        self._longest = max(len(p) for p in prefixes)
        self._held = ""
        self.checked = False

    def feed(self, text: str) -> str:
        """Take answer text; return what it releases ("" while the start is held)."""
        if self.checked:
            return text
        self._held += text
        if len(self._held) <= self._longest:
            return ""
        text, self._held = drop_leaked(self._held, self._prefixes), ""
        self.checked = True
        return text

    def flush(self) -> str:
        """The held start of the answer, at the end of the stream (a leaked word dropped)."""
        held, self._held = self._held, ""
        return drop_leaked(held, self._prefixes) if held else ""


def drop_leaked(text: str, prefixes: tuple[str, ...]) -> str:
    """``text`` without a leaked channel word at its start (one followed by the answer)."""
    stripped = text.lstrip()
    for p in prefixes:
        if stripped.startswith(p) and len(stripped) > len(p):
            nxt = stripped[len(p)]
            if nxt.isdigit() or nxt.isupper() or nxt in "{[\"'*`-":
                return stripped[len(p) :]
    return text
