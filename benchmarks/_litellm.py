"""LiteLLM's proxy as a peer of ``terse serve``, started in front of the same upstream.

LiteLLM is never a dependency of terse (not in any extra): install it in a venv of its
own, so its pins never touch terse's, and point the benchmarks at its ``litellm``
executable::

    python3 -m venv /work/litellm-venv
    /work/litellm-venv/bin/pip install 'litellm[proxy]'
    python benchmarks/bench_serve.py --litellm /work/litellm-venv/bin/litellm
    # or: TERSE_BENCH_LITELLM=/work/litellm-venv/bin/litellm python benchmarks/run_all.py

`start` writes a ``config.yaml`` (one ``model_list`` entry per model name, e.g.
``openai/m`` at the upstream's base URL) and runs ``litellm --config ... --port ...``
with one uvicorn worker (``terse serve`` is one process too) and the settings a
deployment on a private network uses:

- ``LITELLM_MASTER_KEY``: required (the proxy refuses to start without one); clients send
  it as their API key. With no database, the check is against this key alone.
- ``LITELLM_LOCAL_MODEL_COST_MAP=True``: use the bundled model price map instead of
  fetching it from GitHub at start-up (there is no internet here; a deployer behind a
  firewall sets the same);
- ``LITELLM_TELEMETRY_DISABLED=true``: the telemetry veto (telemetry is opt-in anyway);
- ``LITELLM_LOG=ERROR`` and ``litellm_settings.set_verbose: false``: no debug or info
  logging per request (LiteLLM's own latency guide names debug logging as the first cause
  of added latency);
- no database, no callbacks, no cache: nothing that writes or looks anything up per
  request beyond the key check.

Everything else is LiteLLM's default (uvicorn, with the uvloop that ``litellm[proxy]``
installs).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["ENV", "KEY", "Peer", "executable", "start", "version"]

ENV = "TERSE_BENCH_LITELLM"
KEY = "sk-terse-bench-0123456789abcdef0123456789abcdef"  # loopback only, a throwaway


def executable(given: str | None) -> str | None:
    """The ``litellm`` executable to use: ``given``, else ``$TERSE_BENCH_LITELLM``, else None."""
    path = given or os.environ.get(ENV) or None
    if path is not None and not os.access(path, os.X_OK):
        raise SystemExit(f"not an executable: {path} (--litellm or ${ENV})")
    return path


def version(exe: str) -> str:
    """The installed LiteLLM version, asked of the interpreter next to the executable."""
    python = Path(exe).parent / "python"
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.stdout.strip() or "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(models: dict[str, tuple[str, str]]) -> str:
    """The YAML, written by hand: ``name -> (litellm model, api_base)`` per entry."""
    lines = ["model_list:"]
    for name, (model, api_base) in models.items():
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            f"      model: {model}",
            f"      api_base: {api_base}",
            "      api_key: x",
        ]
    lines += ["litellm_settings:", "  set_verbose: false"]
    return "\n".join(lines) + "\n"


class Peer:
    """A running LiteLLM proxy: `url` is its ``/v1`` base URL, `key` the key to send."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, workdir: Path) -> None:
        self.proc = proc
        self.url = url
        self.key = KEY
        self.workdir = workdir

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.workdir / "litellm.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the proxy this object started (by its PID), then remove its config and log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(exe: str, models: dict[str, tuple[str, str]], *, timeout: float = 240.0) -> Peer:
    """Start LiteLLM's proxy and wait until it answers.

    ``models`` maps each model name clients send to LiteLLM's model string and the
    upstream's base URL: ``{"m": ("openai/m", upstream)}`` is a generic OpenAI-compatible
    upstream.
    """
    workdir = Path(tempfile.mkdtemp(prefix="terse-bench-litellm-"))
    config = workdir / "config.yaml"
    config.write_text(_config(models))
    port = _free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY_DISABLED": "true",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    log = (workdir / "litellm.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=workdir,  # no stray .env or config picked up from the repo
    )
    log.close()
    peer = Peer(proc, f"http://127.0.0.1:{port}/v1", workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = peer.log_tail()
            peer.stop()
            raise SystemExit(f"litellm exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2):
                return peer
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    tail = peer.log_tail()
    peer.stop()
    raise SystemExit(f"litellm did not answer within {timeout:.0f} s:\n{tail}")
