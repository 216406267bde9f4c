"""Tool calls from reasoning models: the pure, I/O-free core.

Layers, bottom up (no module here does I/O):

``_formats.py``  data
    `CallFormat` rows, one per model family: the strings that open and close a block of
    inline calls, and which body reader parses what is inside.
``_read.py`` and ``_read_*.py``  readers
    One linear reader per body kind, by file: JSON in tags, bare Llama JSON and
    Functionary recipients (``_read_json``); Qwen3-Coder XML parameters, GLM
    ``arg_key``/``arg_value`` and MiniMax/DSML ``invoke`` (``_read_xml``); DeepSeek/Kimi
    token sections, Mistral and Gemma 4 (``_read_tokens``); pythonic lists and Llama's
    ``python_tag`` (``_read_pythonic``). A reader returns the calls and where the block
    ends, ``None`` (the opener was prose), or raises ``More`` when the text ends first
    (naming, where it can, the string it waits for). ``_read`` holds what they share:
    closers searched outside JSON strings, arguments repaired only where safe (trailing
    comma, single quotes, one missing brace), each repair named.
``_bodies.py``  registry
    ``_READERS``: body kind -> reader, and `read_block`.
``_openers.py`` and ``_scan.py``  scanner
    `CallScanner` finds openers (the tables of ``_openers``) in a text fed in chunks,
    skipping markdown fences and inline code, and hands each block to its reader. The
    whole text is one chunk, so any chunking gives the same result. A block in progress is
    read again only when that can change the answer, so a stream stays linear.
``_rule.py``, ``_events.py`` and ``_parse.py``  the rule and the engine
    ``_rule`` applies the draft-vs-real rule of ``shared/reference/tools.md`` §2
    (rehearsals in closed reasoning are never calls; a call that ends unclosed reasoning
    is real; a terminal call in closed reasoning is ``trailing_draft``, promotable on
    request) and reads gpt-oss harmony message by message. `ToolCallStream` (``_parse``)
    runs `terse.Splitter` on the raw output, scans the reasoning for drafts and the answer
    for calls, with fast paths for plain chunks; its events are in ``_events``.
    `parse_output` (raw text) and `parse_tool_calls` (an answer already split) are the
    whole-text entry points.
``_native.py``  server-parsed calls
    `normalize_tool_calls`, `normalize_message` and `NativeAccumulator` (stream deltas):
    arguments as a string, an object or double-encoded; missing or always-0 ``index``;
    repeated ids; missing ids generated.
``_schema.py``  tools
    `ToolSpec` from OpenAI tool dicts, functions (signature and docstring) and pydantic
    models; XML values typed by the schema; arguments validated.
``_calls.py``  results
    `ToolCall`, `ToolProblem`, `ParsedCalls` and `ToolCallError` (a `terse.ResponseError`).

Adding a tool-call format:

1. If its body reads like an existing one (JSON in tags, XML parameters, invoke blocks,
   token sections, a pythonic list), add one `CallFormat` row to ``_formats.CALL_FORMATS``:
   its opener(s), closer and body kind. Rows sharing an opener are tried in order.
2. Otherwise write one reader in the ``_read_*.py`` file of its kind (or a new one), from
   the primitives of ``_read.py``: linear, raising ``More`` at the end of the text (with
   ``need=`` the string it searched for, when nothing before that search depends on text
   still to come), never guessing. Register it in ``_bodies._READERS``; then add the row.
3. Add labelled raw outputs to ``tests/data/toolcalls.jsonl``; the corpus tests check them
   whole and under random chunkings.
"""

from ._calls import ParsedCalls, ToolCall, ToolCallError, ToolProblem
from ._formats import CALL_FORMATS, CallFormat
from ._native import NativeAccumulator, normalize_message, normalize_tool_calls
from ._parse import (
    CallDelta,
    CallDone,
    CallFailed,
    CallStarted,
    InlineEvent,
    ReasoningText,
    TextDelta,
    ToolCallStream,
    parse_output,
    parse_tool_calls,
)
from ._schema import ToolSpec, tool_spec, tool_specs

__all__ = [
    "CALL_FORMATS",
    "CallDelta",
    "CallDone",
    "CallFailed",
    "CallFormat",
    "CallStarted",
    "InlineEvent",
    "NativeAccumulator",
    "ParsedCalls",
    "ReasoningText",
    "TextDelta",
    "ToolCall",
    "ToolCallError",
    "ToolCallStream",
    "ToolProblem",
    "ToolSpec",
    "normalize_message",
    "normalize_tool_calls",
    "parse_output",
    "parse_tool_calls",
    "tool_spec",
    "tool_specs",
]
