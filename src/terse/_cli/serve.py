"""``terse serve``: the OpenAI-compatible proxy (`terse.serve`) in the foreground.

It serves until Ctrl-C (or SIGTERM). Once it listens it prints, and flushes, one line with
its base URL (``http://HOST:PORT/v1``), so a script can start it with ``--port 0`` and read
where it is. Keys come from environment variables, never from the command line (where
``ps`` would show them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .types import http_url, port, positive_float, positive_int

HELP = "run the OpenAI-compatible proxy (terse in front of any upstream)"
DESCRIPTION = (
    "Serve POST /v1/chat/completions (stream and not), GET /v1/models and GET /health in front "
    "of an OpenAI-compatible upstream, running every call through terse: the thinking budget "
    "holds, the answer is clean in message.content, the reasoning in message.reasoning_content, "
    "tool calls are normalised. A request may carry a top-level thinking_budget (an integer, or "
    "the fields of terse.Budget); --thinking-budget sets the default. Needs the serve extra: "
    "pip install 'terse[serve]'."
)

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--upstream",
        required=True,
        type=http_url,
        help="the upstream's OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=port,
        default=8787,
        help="port to listen on; 0 picks a free one (default: 8787)",
    )
    p.add_argument(
        "--thinking-budget",
        type=positive_int,
        default=None,
        metavar="N",
        help="default thinking budget in tokens (default: none; a request's thinking_budget wins)",
    )
    p.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        default="OPENAI_API_KEY",
        help="environment variable holding the upstream's API key (default: OPENAI_API_KEY)",
    )
    p.add_argument(
        "--proxy-key-env",
        metavar="NAME",
        default=None,
        help="environment variable holding the key clients must send (Authorization: Bearer); "
        "required to bind an address other than loopback",
    )
    p.add_argument("--model", default=None, help="model for requests that name none")
    p.add_argument(
        "--reasoning",
        choices=("field", "drop"),
        default="field",
        help="where the reasoning goes: message.reasoning_content (field, default) or nowhere (drop)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=2,
        metavar="N",
        help="terse's retries per call (default: 2)",
    )
    p.add_argument(
        "--deadline",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds for a whole call; past it the client gets a 504 (default: none)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="processes serving the port (default: 1); each runs its own flow and upstream pool",
    )
    p.add_argument("--log-level", choices=_LOG_LEVELS, default="warning", help="(default: warning)")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import app, check_bind
        from ..serve._run import CONFIG_ENV, base_url_of, listen_socket, run_loop
    except ImportError as exc:
        print(f"terse serve: {exc}", file=sys.stderr)
        return 1
    from .._exceptions import UsageError

    if args.max_retries < 0:
        print("terse serve: --max-retries must be 0 or more", file=sys.stderr)
        return 2
    proxy_key = None
    if args.proxy_key_env:
        proxy_key = os.environ.get(args.proxy_key_env) or None
        if proxy_key is None:
            print(
                f"terse serve: ${args.proxy_key_env} is not set (--proxy-key-env)", file=sys.stderr
            )
            return 2
    try:
        check_bind(args.host, proxy_key)
    except UsageError as exc:
        print(f"terse serve: {exc}", file=sys.stderr)
        return 2
    options = {
        "model": args.model,
        "thinking_budget": args.thinking_budget,
        "reasoning": args.reasoning,
        "max_retries": args.max_retries,
        "deadline": args.deadline,
    }
    if args.workers > 1:
        # Each worker builds the app from the environment: the options as JSON, the keys
        # left in their own variables (named, never copied).
        os.environ[CONFIG_ENV] = json.dumps(
            {
                "upstream": args.upstream,
                "upstream_key_env": args.upstream_key_env,
                "proxy_key_env": args.proxy_key_env,
                "supervisor": os.getpid(),  # the workers stop once it is gone
                **options,
            }
        )
        config = uvicorn.Config(
            "terse.serve._run:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            lifespan="on",
            workers=args.workers,
        )
    else:
        application = app(
            args.upstream,
            upstream_key=os.environ.get(args.upstream_key_env) or None,
            proxy_key=proxy_key,
            **options,
        )
        config = uvicorn.Config(
            application, host=args.host, port=args.port, log_level=args.log_level, lifespan="on"
        )
    server = uvicorn.Server(config)
    import asyncio

    try:
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        print(f"terse serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    ready = (
        f"terse proxy at {base_url_of(args.host, sock.getsockname()[1])} (upstream {args.upstream})"
    )

    async def serve() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(ready, flush=True)
        await task

    try:
        if args.workers > 1:
            # Connections queue on the socket from here; the workers accept them once up.
            sock.listen(config.backlog)
            print(ready, flush=True)
            supervise(config, server, sock)
        else:
            run_loop(serve())
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def supervise(config: Any, server: Any, sock: Any) -> None:
    """Run ``config.workers`` uvicorn worker processes on ``sock`` until a signal stops them.

    uvicorn's supervisor takes the worker's target itself since 0.36 or so, and as an
    argument before: both are served.
    """
    import inspect

    from uvicorn.supervisors import Multiprocess

    supervisor: Any = Multiprocess
    if "target" in inspect.signature(supervisor).parameters:
        supervisor(config, target=server.run, sockets=[sock]).run()
    else:
        supervisor(config, sockets=[sock]).run()
