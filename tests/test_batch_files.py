"""A batch job's output files under hostile conditions (issue 13, finding 10).

One writer per output (an exclusive lock; a second job fails fast), only regular files
(never ``/dev/zero``, a FIFO or a folder), every OS error on the output a clean typed
error (exit 2 from the CLI, never a traceback), and one bad row failing that row only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

import terse
from terse._batch.api import BatchReport, arun_batch, run_batch
from terse._batch.journal import Journal, JournalError
from terse._cli.main import main
from terse.testing import FakeServer, Reply

MODES = ["sync", "async"]


class Rec(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def _explode(cls, value: str) -> str:
        if value == "boom":  # not a ValueError: pydantic lets it through, raw
            raise RuntimeError("a bug in the user's validator")
        return value


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("vllm") as server:
        server.default = Reply(answer='{"name": "Ann"}')
        yield server


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "text": f"text {i}."} for i in range(n)]


def run(mode: str, srv: FakeServer, out: Any, **kwargs: Any) -> BatchReport:
    options: dict[str, Any] = {
        "prompt": "Extract from {text}",
        "response_model": Rec,
        "out": out,
        "progress": False,
        "max_retries": 0,
        **kwargs,
    }
    data = options.pop("rows", rows(3))
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, model="m", timeout=10.0) as client:
            return run_batch(data, client=client, **options)

    async def go() -> BatchReport:
        async with terse.AsyncClient(base_url=srv.base_url, model="m", timeout=10.0) as client:
            return await arun_batch(data, client=client, **options)

    return asyncio.run(go())


def cli(srv: FakeServer, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        "extract",
        "--in",
        str(source),
        "--out",
        str(out),
        "--prompt",
        "Extract from {text}",
        "--model",
        "m",
        "--base-url",
        srv.base_url,
        "--no-progress",
        "--max-retries",
        "0",
        *extra,
    ]


def write_rows(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(n)))
    return path


# -- one writer --------------------------------------------------------------------------------


LOCKER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def locked_out(tmp_path: Path) -> Iterator[Path]:
    """An output file locked by another process, as a running job holds it."""
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield out
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_second_writer_fails_fast_and_touches_nothing(
    mode: str, srv: FakeServer, locked_out: Path, tmp_path: Path
) -> None:
    errors = tmp_path / "out.errors.jsonl"
    errors.write_text(json.dumps({"id": "r0", "error": "X"}) + "\n")
    started = time.monotonic()
    with pytest.raises(terse.UsageError, match="being written by another terse job"):
        run(mode, srv, locked_out, retry_errors=True)
    assert time.monotonic() - started < 5
    assert not srv.requests
    assert errors.exists()  # not moved aside under the running job's feet
    assert locked_out.read_bytes() == b""


def test_the_cli_second_writer_exits_2_with_a_message(
    srv: FakeServer, locked_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3)
    assert main(cli(srv, source, locked_out)) == 2
    err = capsys.readouterr().err
    assert "being written by another terse job" in err
    assert "Traceback" not in err
    assert not srv.requests


def test_two_jobs_in_one_process_cannot_share_an_output(tmp_path: Path) -> None:
    first = Journal(tmp_path / "o.jsonl")
    try:
        with pytest.raises(JournalError):
            Journal(tmp_path / "o.jsonl")
    finally:
        first.close()
    Journal(tmp_path / "o.jsonl").close()  # the lock went with the first journal


# -- only regular files -----------------------------------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder"])
@pytest.mark.parametrize("which", ["out", "errors"])
@pytest.mark.parametrize("mode", MODES)
def test_a_non_regular_output_is_refused_at_once(
    kind: str, which: str, mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    target = {"/dev/zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path)}.get(
        kind, lambda: tmp_path
    )()
    files = {"out": target} if which == "out" else {"out": tmp_path / "o.jsonl", "errors": target}
    started = time.monotonic()
    with pytest.raises(terse.UsageError, match=r"not a regular file|is a directory"):
        run(mode, srv, **files)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5  # never reads an endless "line"
    assert not srv.requests


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder", "under-a-file"])
def test_the_cli_refuses_a_bad_output_with_exit_2(
    kind: str, srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", 2)
    target = {
        "/dev/zero": Path("/dev/zero"),
        "folder": tmp_path,
        "under-a-file": source / "out.jsonl",
    }.get(kind) or _fifo(tmp_path)
    assert main(cli(srv, source, target)) == 2
    err = capsys.readouterr().err
    assert err.startswith("terse extract: ")
    assert "Traceback" not in err
    assert not srv.requests


def _kernel_file(path: str, fault: type[OSError] | int) -> Path:
    """A file of the running kernel that fails as wanted (even for root), or skip."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except OSError as exc:
        if isinstance(fault, type) and isinstance(exc, fault):
            return Path(path)
        pytest.skip(f"{path}: {exc}")
    try:
        os.write(fd, b"x\n")
    except OSError as exc:
        if exc.errno == fault:
            return Path(path)
        pytest.skip(f"{path}: {exc}")
    finally:
        os.close(fd)
    pytest.skip(f"{path} is writable here")


@pytest.mark.parametrize(
    ("path", "fault", "message"),
    [
        ("/sys/kernel/notes", PermissionError, "cannot open /sys/kernel/notes: Permission denied"),
        ("/proc/version", 5, "cannot write to /proc/version: Input/output error"),
    ],
)
def test_an_unwritable_output_exits_2_with_the_os_reason(
    path: str,
    fault: Any,
    message: str,
    srv: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = _kernel_file(path, fault)
    source = write_rows(tmp_path / "in.jsonl", 2)
    args = cli(srv, source, target, "--errors", str(tmp_path / "e.jsonl"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# -- OS errors while writing -----------------------------------------------------------------


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_mid_job_exits_2_cleanly_and_a_rerun_completes(
    srv: FakeServer, tmp_path: Path
) -> None:
    """RLIMIT_FSIZE makes the kernel refuse writes past 3 kB (EFBIG), as a full disk would."""
    source = write_rows(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    args = cli(srv, source, out, "--concurrency", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "terse._cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limited(3000),
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write to" in proc.stderr
    assert "File too large" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert 0 < out.stat().st_size <= 3000
    assert main(args) == 0  # the torn tail is repaired, the rest done, each id once
    written = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(written) == sorted(f"r{i}" for i in range(40))


def test_a_full_disk_mid_job_is_a_typed_error_in_the_api(srv: FakeServer, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import terse
        from terse._batch.api import run_batch
        rows = [{{"id": i, "text": "t"}} for i in range(40)]
        with terse.Client(base_url={srv.base_url!r}, model="m", timeout=10) as client:
            try:
                run_batch(rows, client=client, prompt="{{text}}", response_model=None,
                          out={str(tmp_path / "o.jsonl")!r}, progress=False, max_retries=0)
            except terse.UsageError as exc:
                print(type(exc).__name__, type(exc.__cause__).__name__, exc)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limited(2000),
    )
    assert proc.stdout.startswith("JournalError OSError cannot write to"), proc.stderr
    assert "Traceback" not in proc.stderr


# -- an absurd usage report ------------------------------------------------------------------


class UsageLiar:
    """A loopback server whose every completion claims ``completion_tokens=10**12``."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                payload = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": "m",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": '{"name": "Ann"}'},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 5,
                            "completion_tokens": 10**12,
                            "total_tokens": 10**12 + 5,
                        },
                    }
                ).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (len(payload), payload)
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_response_claiming_10_to_the_12_tokens_does_not_stall_the_job(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """10**12 tokens at 1M tokens/s was 10**6 s of debt; now about two seconds, and said."""
    import threading

    liar = UsageLiar()
    result: list[Any] = []
    options: dict[str, Any] = {
        "prompt": "{text}",
        "response_model": Rec,
        "out": tmp_path / "o.jsonl",
        "progress": False,
        "max_retries": 0,
        "concurrency": 1,
        "tokens_per_minute": 60_000_000,
    }

    def job() -> None:
        if mode == "sync":
            with terse.Client(base_url=liar.base_url, model="m", dialect="vllm") as client:
                result.append(run_batch(rows(2), client=client, **options))
            return

        async def go() -> BatchReport:
            async with terse.AsyncClient(base_url=liar.base_url, model="m", dialect="vllm") as c:
                return await arun_batch(rows(2), client=c, **options)

        result.append(asyncio.run(go()))

    try:
        with caplog.at_level(logging.WARNING, logger="terse"):
            runner = threading.Thread(target=job, daemon=True)
            runner.start()
            runner.join(60)
        assert not runner.is_alive(), "the job stalled on the token bucket"
    finally:
        liar.close()
    assert result[0].written == 2
    warnings = [r.getMessage() for r in caplog.records if "more tokens than" in r.getMessage()]
    assert len(warnings) == 1


# -- one bad row --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_unexpected_exception_fails_its_row_only(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    srv.route("text 1.", Reply(answer='{"name": "boom"}'))
    out = tmp_path / "out.jsonl"
    report = run(mode, srv, out, rows=rows(5), concurrency=2)
    assert (report.written, report.failed) == (4, 1)
    [error] = [
        json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()
    ]
    assert error["id"] == "r1"
    assert "RuntimeError" in error["error"] + (error["cause"] or "")
    assert "a bug in the user's validator" in error["message"] + (error["cause"] or "")


@pytest.mark.parametrize("mode", MODES)
def test_a_prompt_function_giving_one_row_an_unusable_prompt_fails_that_row_only(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    def prompt(row: dict[str, Any]) -> Any:
        return [] if row["id"] == "r2" else row["text"]  # no messages: ask() refuses it

    report = run(mode, srv, tmp_path / "out.jsonl", rows=rows(4), prompt=prompt)
    assert (report.written, report.failed) == (3, 1)
    [error] = [
        json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()
    ]
    assert (error["id"], error["error"]) == ("r2", "UsageError")
    assert len(srv.requests) == 3
