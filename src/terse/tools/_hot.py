"""The fast paths' shared state for `ToolCallStream.feed` (`terse.tools._parse`).

Events are immutable and streams repeat the same strings, so the plain-text events of the
fast paths are shared, not allocated per chunk (`RT`, `TD`, `CD`: bounded caches, cleared
when full); and the hottest path, plain reasoning mid-line, is a small state machine of
`Hot` states, each a bounded map from a chunk seen plain to its event and next state.
"""

from __future__ import annotations

from typing import Any

from ._events import CallDelta, ReasoningText, TextDelta
from ._openers import table

__all__ = [
    "CD",
    "NO_EVENT",
    "OFF",
    "RT",
    "R_PLAIN",
    "R_TABLE",
    "TD",
    "Hot",
    "cache",
    "remember",
    "state_for",
]

RT: dict[str, ReasoningText] = {}
TD: dict[str, TextDelta] = {}
CD: dict[str, CallDelta] = {}

R_TABLE = table(False)  # the reasoning is scanned for drafts without tool names
R_PLAIN = R_TABLE.plain


class Hot(dict[str, "tuple[ReasoningText, str, Hot]"]):
    """One state of the hottest path of `ToolCallStream.feed`: plain reasoning, mid-line.

    A state is the splitter's passthrough character (`reasoning_passthrough`), the
    whitespace held at the end of the reasoning so far (``ws``: segments are stripped) and
    the possible partial opener the draft scanner holds (``held``). It maps a chunk seen
    plain there (no opener, no fence character, not ending a line, without the
    passthrough character: the splitter passes it through and the scanner only releases
    it) to the event it releases, that text ("" when it releases nothing) and the state it
    leaves. A stream in such a state takes a known chunk with one dict lookup.

    States are shared caches: a copied stream shares them, and `OFF` keeps its identity
    through copies and pickles.
    """

    __slots__ = ("held", "ws")

    def __init__(self, ws: str, held: str) -> None:
        super().__init__()
        self.ws = ws
        self.held = held

    def __copy__(self) -> Hot:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Hot:
        return self

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A stream leaves its hot state before it is pickled, so only `OFF` goes by name.
        return "OFF" if self is OFF else (Hot, (self.ws, self.held))


OFF = Hot("", "")  # never filled: the hot path is off
NO_EVENT = ReasoningText("")
_STATES: dict[tuple[str, str, str], Hot] = {}
_MAX_STATES = 256  # whitespace runs longer than 16 characters are not states
_MAX_ENTRIES = [16384]  # entries left across all states before they are all cleared


def state_for(f: str, ws: str, held: str) -> Hot:
    """The hot state for passthrough character ``f``, whitespace ``ws`` and partial opener
    ``held`` (`OFF` when there is none and no room for one)."""
    key = (f, ws, held)
    h = _STATES.get(key)
    if h is None:
        if len(ws) > 16 or len(_STATES) >= _MAX_STATES:
            return OFF
        h = _STATES[key] = Hot(ws, held)
    return h


def remember(state: Hot, chunk: str, entry: tuple[ReasoningText, str, Hot]) -> None:
    left = _MAX_ENTRIES
    if left[0] <= 0:
        for h in _STATES.values():
            h.clear()
        left[0] = 16384
    left[0] -= 1
    state[chunk] = entry


def cache(cache: dict[str, Any], key: str, value: Any) -> Any:
    if len(key) <= 64:
        if len(cache) >= 8192:
            cache.clear()
        cache[key] = value
    return value
