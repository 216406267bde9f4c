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
"""

from ._scripts import (
    DEFAULT_REPLY,
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
from ._wire import DIALECTS, Dialect

__all__ = [
    "DEFAULT_REPLY",
    "DIALECTS",
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
    "tokenize",
]
