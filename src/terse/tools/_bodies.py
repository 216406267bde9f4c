"""The body readers of inline tool-call blocks, by `CallFormat.body`: the registry.

Readers live by body kind: JSON in tags and bare JSON (``_read_json``), XML parameters
(``_read_xml``), token sections, Mistral and Gemma (``_read_tokens``), pythonic lists
(``_read_pythonic``); their shared primitives (`More`, `Block`, JSON-string-aware search,
safe repairs) are in ``_read``. A new body kind is one reader function registered in
`_READERS` under the name a `CallFormat` row gives as its ``body``.
"""

from __future__ import annotations

from collections.abc import Callable

from ._formats import CallFormat
from ._read import MAX_DEPTH, Block, Ctx, More, RawCall, TooDeep, json_end, load_json
from ._read_json import bare_json, json_body, recipient
from ._read_pythonic import python_tag, pythonic
from ._read_tokens import gemma, mistral, section
from ._read_xml import glm, invoke, xml_function

__all__ = [
    "MAX_DEPTH",
    "Block",
    "Ctx",
    "More",
    "RawCall",
    "TooDeep",
    "json_end",
    "load_json",
    "read_block",
]

Reader = Callable[[CallFormat, str, int, Ctx], "Block | None"]

_READERS: dict[str, Reader] = {
    "json": json_body,
    "xml_function": xml_function,
    "glm": glm,
    "invoke": invoke,
    "section": section,
    "mistral": mistral,
    "bare_json": bare_json,
    "recipient": recipient,
    "pythonic": pythonic,
    "python_tag": python_tag,
    "gemma": gemma,
}


def read_block(row: CallFormat, text: str, p: int, ctx: Ctx) -> Block | None:
    """Read the block whose opener ended at ``p`` (raises `More` if the text ends first)."""
    return _READERS[row.body](row, text, p, ctx)
