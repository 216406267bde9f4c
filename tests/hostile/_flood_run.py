"""Run one call on each of the six paths against a flooding server; print one JSON line each.

``python _flood_run.py BASE_URL`` — run in a subprocess by test_floods.py so that peak
memory (tracemalloc, reset per path; and the process's peak RSS) is this call's alone.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
import tracemalloc
from typing import Any

import terse
from terse._wire.tokens import load_encoding

FLOOD_PATHS = (
    "sync-ask",
    "sync-stream",
    "async-ask",
    "async-stream",
    "aiohttp-ask",
    "aiohttp-stream",
)


def _error_info(exc: BaseException) -> dict[str, Any]:
    return {
        "error": type(exc).__name__,
        "limit": getattr(exc, "limit", None),
        "kept": len(getattr(exc, "text", "") or "") + len(getattr(exc, "reasoning", "") or ""),
        "message": str(exc)[:200],
    }


def main(base_url: str) -> None:
    kw: dict[str, Any] = {"model": "m", "dialect": "openai-compatible", "max_retries": 0}
    load_encoding()  # tiktoken's tables (~25 MB, once per process) are not the call's
    tracemalloc.start()
    for path in FLOOD_PATHS:
        gc.collect()  # what the previous path left is not this one's
        tracemalloc.reset_peak()
        start = time.monotonic()
        info: dict[str, Any] = {"path": path}
        try:
            if path.startswith("sync"):
                with terse.Client(base_url=base_url, **kw) as client:
                    if path == "sync-ask":
                        client.ask("q", deadline=30)
                    else:
                        with client.stream("q", deadline=30) as s:
                            s.get_answer()
            else:

                async def run(path: str = path) -> None:
                    async with terse.AsyncClient(base_url=base_url, **kw) as client:
                        lean = None
                        if path.startswith("aiohttp"):  # terse serve's upstream transport
                            from terse.serve._upstream import AiohttpTransport

                            lean = AiohttpTransport(
                                client.base_url,
                                api_key=None,
                                limits=client._limits,
                                idle_timeout=client._idle_timeout,
                            )
                            client._transport = lean
                        try:
                            if path.endswith("-ask"):
                                await client.ask("q", deadline=30)
                            else:
                                async with client.stream("q", deadline=30) as s:
                                    await s.get_answer()
                        finally:
                            if lean is not None:
                                await lean.aclose()

                asyncio.run(run())
            info["error"] = None
        except Exception as exc:
            info.update(_error_info(exc))
        info["elapsed"] = time.monotonic() - start
        info["peak"] = tracemalloc.get_traced_memory()[1]
        info["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(info), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
