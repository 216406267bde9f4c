"""Test doubles for code that talks to reasoning-model servers.

`FakeServer` is a real HTTP server on 127.0.0.1 that speaks the wire dialect of
DeepSeek, vLLM (three generations), llama.cpp, SGLang, Ollama, OpenRouter, LM Studio, or
a server without a reasoning parser — so tests exercise real HTTP through the real
``openai`` client, sync and async, streamed and not, under openai 2.x and 3.x alike.
Scripts say what it does with each request::

    from terse.testing import FakeServer, Reply, Runaway, Fail

    with FakeServer(dialect="llamacpp") as srv:
        srv.push(Fail(429, retry_after=1), Reply(reasoning="Hmm.", answer="Paris"))
        srv.route("budget", Runaway(answer="42"))
        ...                                   # point your code at srv.base_url
        srv.wait_idle()
        assert [r.status for r in srv.requests] == [429, 200]

Tool calls are part of a `Reply`: ``Reply(answer="Let me look.", tool_calls=[Call("get_weather",
{"city": "Paris"})])``. A server with a tool parser sends them as ``message.tool_calls`` (or
streamed ``delta.tool_calls``, with its own quirks: `ToolStream`); an ``inline*`` dialect writes
the model family's markup into ``content`` (`tool_markup`). ``drafts=`` rehearses calls inside
the reasoning; arguments given as a string are sent verbatim (invalid JSON, for a re-ask test);
``max_tokens`` cuts a call like any text. Requests are checked as the real server checks them:
malformed ``tools`` get a 400, and the DeepSeek row refuses a tool loop whose assistant
message lost its ``reasoning_content``.
"""

from ._families import TOOL_FORMATS, tool_markup
from ._scripts import (
    DEFAULT_REPLY,
    Call,
    Drop,
    Fail,
    Hang,
    Malformed,
    Reply,
    Runaway,
    Script,
    SlowStart,
    tokenize,
)
from ._server import FakeServer
from ._state import Recorded
from ._wire import DIALECTS, Dialect, ToolStream

__all__ = [
    "DEFAULT_REPLY",
    "DIALECTS",
    "TOOL_FORMATS",
    "Call",
    "Dialect",
    "Drop",
    "Fail",
    "FakeServer",
    "Hang",
    "Malformed",
    "Recorded",
    "Reply",
    "Runaway",
    "Script",
    "SlowStart",
    "ToolStream",
    "tokenize",
    "tool_markup",
]
