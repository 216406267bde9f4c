"""`terse serve`: an OpenAI-compatible proxy that puts terse in front of any upstream.

Point any OpenAI client (pydantic-ai, the OpenAI Agents SDK, LangChain, curl, a
TypeScript service) at the proxy's ``/v1`` and every call runs through terse: thinking
budgets that hold, the answer clean in ``content`` and the reasoning in
``reasoning_content``, tool calls normalised (native or inline, never a draft from the
reasoning), usage summed over every upstream request.

- `app` builds the ASGI application (mount it yourself, or serve it with any ASGI server);
- `Server` runs it with uvicorn on a background thread (``with Server(app(...)) as s``);
- ``terse serve --upstream URL`` runs it in the foreground.

Why Starlette + uvicorn (the ``terse[serve]`` extra): the proxy has three routes and no
request models to validate beyond what terse checks itself, so FastAPI's layer (pydantic
request parsing, OpenAPI) would only add a dependency and a second error shape; Starlette
gives the ASGI routing and streaming responses, uvicorn the HTTP server (h11, already a
terse dependency), with no hand-written HTTP in the proxy. Each call goes through one
`terse.AsyncClient` per upstream (its openai client's connection pool shared by every
request), the very driver and flow `Client.ask` uses, so the proxy cannot drift from it.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - without the extra
    raise ImportError("terse.serve needs the serve extra: pip install 'terse[serve]'") from exc

from ._app import MAX_BODY, ServeConfig, app
from ._render import Reasoning
from ._run import Server, check_bind, is_loopback

__all__ = ["MAX_BODY", "Reasoning", "ServeConfig", "Server", "app", "check_bind", "is_loopback"]
