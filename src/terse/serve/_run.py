"""Running the proxy: uvicorn in the foreground (``terse serve``) or in a thread (`Server`)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from .._exceptions import UsageError

__all__ = [
    "CONFIG_ENV",
    "Server",
    "app_from_env",
    "base_url_of",
    "check_bind",
    "is_loopback",
    "listen_socket",
    "run_loop",
]

CONFIG_ENV = "TERSE_SERVE_CONFIG"
"""Where ``terse serve --workers N`` leaves its options for the worker processes (JSON; the
keys stay in their own variables, which it names)."""


def app_from_env() -> Any:
    """A worker's proxy app, built from `CONFIG_ENV` (the uvicorn factory of ``--workers``).

    The worker also stops itself (SIGTERM: uvicorn's graceful shutdown) once its parent is
    gone, so a supervisor killed outright leaves no orphan holding the port.
    """
    from ._app import app

    spec = json.loads(os.environ[CONFIG_ENV])
    _exit_with_parent(spec.pop("supervisor"))
    upstream_key_env = spec.pop("upstream_key_env")
    proxy_key_env = spec.pop("proxy_key_env")
    return app(
        spec.pop("upstream"),
        upstream_key=os.environ.get(upstream_key_env) or None,
        proxy_key=(os.environ.get(proxy_key_env) or None) if proxy_key_env else None,
        **spec,
    )


T = TypeVar("T")


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="terse-serve-parent", daemon=True).start()


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) for uvicorn to serve on.

    ``TCP_NODELAY`` is inherited by accepted connections: without it, a response's header
    and body writes meet the client's delayed ACK and a request takes 40 ms more (Nagle).
    Raises `OSError` when the address cannot be bound.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(host: str, port: int) -> str:
    """``http://HOST:PORT/v1``, an IPv6 host in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (the ``serve`` extra brings it), else asyncio.

    The proxy spends much of its time in the event loop's socket handling; uvloop does that
    in C. Behaviour is the same on both loops.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, proxy_key: str | None) -> None:
    """Binding beyond loopback needs a proxy key: `UsageError` otherwise."""
    if not is_loopback(host) and not proxy_key:
        raise UsageError(
            f"binding {host} exposes the upstream to the network: set a proxy key "
            "(--proxy-key-env NAME, or proxy_key=) so clients must send Authorization: Bearer KEY"
        )


class Server:
    """The proxy app served by uvicorn on a background thread (for tests and notebooks).

    ``with Server(app) as s: s.base_url`` — ``port=0`` picks a free port; `base_url` ends
    in ``/v1``. `close` stops the server and waits for its thread.
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self._sock = listen_socket(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="terse-serve", daemon=True)
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``."""
        return base_url_of(self.host, self.port)

    def _run(self) -> None:
        try:
            run_loop(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> Server:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the proxy failed to start: {self._error!r}")
            self._thread.join(0.01)
        return self

    def close(self) -> None:
        """Stop serving and wait for the thread (open streams are cut)."""
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
