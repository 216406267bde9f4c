"""Batch jobs against the fake server: exactly once, resumable, back-pressure, progress, CLI.

Every job here talks to a `FakeServer` on loopback; every request has a timeout and every
subprocess a deadline, so a broken job fails its test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import terse
from terse._batch.api import BatchReport, arun_batch, run_batch
from terse._cli.main import main
from terse.testing import Drop, Fail, FakeServer, Reply, SlowStart

MODES = ["sync", "async"]
ANSWER = {"name": "Ann", "n": 1}
GOOD = Reply(reasoning='Draft: {"name": "DECOY", "n": 0}', answer=json.dumps(ANSWER))
BAD = Reply(answer="no idea")


class Rec(BaseModel):
    name: str
    n: int


def make_rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "text": f"text {i}."} for i in range(n)]


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a journal, parsed; a torn or junk line fails the test."""
    if not path.exists():
        return []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path.name} ends with a torn line"
    return [json.loads(line) for line in data.splitlines()]


def ids(path: Path) -> list[Any]:
    return [line["id"] for line in read_lines(path)]


def generations(srv: FakeServer) -> list[str]:
    """The user prompt of every generation request (before terse's schema hint)."""
    prompts = []
    for r in srv.requests:
        if r.body and "messages" in r.body:
            prompts.append(str(r.body["messages"][-1]["content"]).partition("\n\n")[0])
    return prompts


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("vllm") as server:
        server.default = GOOD
        yield server


def run(mode: str, srv: FakeServer, rows: Any, out: Path, **kwargs: Any) -> BatchReport:
    """Run a job with `run_batch` (threads) or `arun_batch` (asyncio)."""
    options: dict[str, Any] = {
        "prompt": "Extract from {text}",
        "response_model": Rec,
        "out": out,
        "progress": False,
        "max_retries": 0,
        **kwargs,
    }
    if mode == "sync":
        with terse.Client(base_url=srv.base_url, model="m", timeout=10.0) as client:
            return run_batch(rows, client=client, **options)

    async def go() -> BatchReport:
        async with terse.AsyncClient(base_url=srv.base_url, model="m", timeout=10.0) as client:
            return await arun_batch(rows, client=client, **options)

    return asyncio.run(go())


# -- what gets written ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_each_row_lands_once_in_out_or_errors_with_value_usage_and_attempts(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    srv.route("text 3.", BAD)
    out = tmp_path / "out.jsonl"
    report = run(mode, srv, make_rows(20), out, concurrency=4, max_retries=1)
    written = read_lines(out)
    failed = read_lines(tmp_path / "out.errors.jsonl")
    assert sorted(r["id"] for r in written) == sorted(f"r{i}" for i in range(20) if i != 3)
    assert all(r["value"] == ANSWER for r in written)  # never the decoy in the reasoning
    first = written[0]
    assert set(first) == {"id", "value", "usage", "attempts", "budget"}
    assert first["usage"]["answer_tokens"] > 0
    assert [a["outcome"] for a in first["attempts"]] == ["ok"]
    [error] = failed
    assert (error["id"], error["row"], error["error"]) == ("r3", 4, "RetriesExhausted")
    assert error["cause"].startswith("ExtractionError")
    assert error["text"] == "no idea"
    assert [a["purpose"] for a in error["attempts"]] == ["ask", "reask"]
    assert (report.written, report.failed, report.requests) == (19, 1, 21)
    spent = sum(r["usage"]["total_tokens"] for r in written + error["attempts"])
    assert report.usage.total_tokens == spent


def test_a_jsonl_path_is_read_as_rows_and_a_callable_prompt_may_send_messages(
    srv: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in make_rows(3)))

    def prompt(row: dict[str, Any]) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": row["text"]},
        ]

    report = run("sync", srv, source, tmp_path / "out.jsonl", prompt=prompt)
    assert report.written == 3
    assert sorted(generations(srv)) == ["text 0.", "text 1.", "text 2."]


@pytest.mark.parametrize("mode", MODES)
def test_rows_missing_a_prompt_field_fail_alone_without_a_request(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    rows = [*make_rows(2), {"id": "x", "body": "no text field"}]
    report = run(mode, srv, rows, tmp_path / "out.jsonl")
    [error] = read_lines(tmp_path / "out.errors.jsonl")
    assert (error["id"], error["error"]) == ("x", "UsageError")
    assert "needs field 'text'" in error["message"]
    assert (report.written, report.failed, len(generations(srv))) == (2, 1, 2)


def test_duplicate_ids_run_once_and_rows_without_an_id_fail_once_across_reruns(
    srv: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    rows = [
        {"id": "a", "text": "1"},
        {"id": "a", "text": "2"},
        {"text": "3"},
        {"id": 7, "text": "4"},
    ]
    first = run("sync", srv, rows, out)
    assert (first.written, first.failed, first.duplicates) == (2, 1, 1)
    again = run("sync", srv, rows, out)
    assert (again.written, again.failed, again.skipped, again.failed_before) == (0, 0, 4, 1)
    assert not again.ok
    assert ids(out) == ["a", 7] or ids(out) == [7, "a"]
    assert read_lines(tmp_path / "out.errors.jsonl") == [
        {
            "id": None,
            "row": 3,
            "error": "UsageError",
            "message": "row 3 has no usable 'id' (a str or int)",
        }
    ]


# -- resuming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_rerun_skips_ids_already_written_or_failed(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    out.write_text("".join(json.dumps({"id": f"r{i}", "value": ANSWER}) + "\n" for i in range(5)))
    errors.write_text(json.dumps({"id": "r5", "error": "ExtractionError"}) + "\n")
    report = run(mode, srv, make_rows(10), out)
    assert (report.skipped, report.written) == (6, 4)
    assert sorted(generations(srv)) == [f"Extract from text {i}." for i in range(6, 10)]
    assert sorted(ids(out)) == [f"r{i}" for i in range(10) if i != 5]


def test_retry_errors_runs_failed_rows_again_and_leaves_no_file_behind(
    srv: FakeServer, tmp_path: Path
) -> None:
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    broken = True
    srv.route(lambda body: broken and "text 1." in json.dumps(body), BAD)
    run("sync", srv, make_rows(3), out)
    assert ids(errors) == ["r1"]
    broken = False
    assert run("sync", srv, make_rows(3), out).skipped == 3  # errors count as done
    report = run("sync", srv, make_rows(3), out, retry_errors=True)
    assert (report.written, report.skipped) == (1, 2)
    assert sorted(ids(out)) == ["r0", "r1", "r2"]
    assert ids(errors) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.errors.jsonl", "out.jsonl"]


def test_a_torn_last_line_is_cut_away_and_its_row_done_again(
    srv: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(json.dumps({"id": "r0", "value": ANSWER}).encode() + b'\n{"id": "r1", "val')
    report = run("sync", srv, make_rows(3), out)
    assert report.repaired == len(b'{"id": "r1", "val')
    assert (report.skipped, report.written) == (1, 2)
    assert sorted(ids(out)) == ["r0", "r1", "r2"]


# -- back-pressure ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_429_pauses_the_whole_job_instead_of_failing_rows(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    srv.push(Fail(429, retry_after=0.4), Fail(429, retry_after=0.4))
    started = time.monotonic()
    report = run(mode, srv, make_rows(12), tmp_path / "out.jsonl", concurrency=2)
    assert (report.written, report.failed, report.rate_limited) == (12, 0, 2)
    assert time.monotonic() - started >= 0.4
    assert ids(tmp_path / "out.errors.jsonl") == []


def test_429s_for_longer_than_patience_stop_the_job_and_leave_rows_for_the_rerun(
    srv: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    srv.default = Fail(429, retry_after=0.05)
    with pytest.raises(terse.RateLimited):
        run("sync", srv, make_rows(5), out, patience=0.3)
    assert ids(out) == ids(tmp_path / "out.errors.jsonl") == []
    srv.default = GOOD
    assert run("sync", srv, make_rows(5), out).written == 5


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_key_stops_the_job_at_once_without_failing_rows(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    srv.default = Fail(401, message="invalid api key")
    with pytest.raises(terse.ServerError) as info:
        run(mode, srv, make_rows(50), tmp_path / "out.jsonl", concurrency=2)
    assert info.value.status == 401
    assert ids(tmp_path / "out.errors.jsonl") == []
    assert len(generations(srv)) <= 2


def test_a_dropped_connection_puts_the_row_back_instead_of_failing_it(
    srv: FakeServer, tmp_path: Path
) -> None:
    srv.push(Drop(after_chunks=0, then=GOOD))
    report = run("sync", srv, make_rows(4), tmp_path / "out.jsonl", concurrency=1)
    assert (report.written, report.failed, report.requeued) == (4, 0, 1)


class CountingClient(terse.Client):
    """Counts how many asks are in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock, self.now, self.peak = threading.Lock(), 0, 0

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return super().ask(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


class CountingAsyncClient(terse.AsyncClient):
    """Counts how many asks are in flight at once."""

    now = peak = 0

    async def ask(self, *args: Any, **kwargs: Any) -> Any:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await super().ask(*args, **kwargs)
        finally:
            self.now -= 1


def test_requests_in_flight_never_exceed_concurrency(srv: FakeServer, tmp_path: Path) -> None:
    srv.default = SlowStart(0.02, then=GOOD)
    options: dict[str, Any] = {
        "prompt": "{text}",
        "response_model": Rec,
        "concurrency": 3,
        "progress": False,
    }
    with CountingClient(base_url=srv.base_url, model="m", timeout=10.0) as client:
        run_batch(make_rows(30), client=client, out=tmp_path / "a.jsonl", **options)
    assert client.peak == 3

    async def go() -> int:
        async with CountingAsyncClient(base_url=srv.base_url, model="m", timeout=10.0) as aclient:
            await arun_batch(make_rows(30), client=aclient, out=tmp_path / "b.jsonl", **options)
            return aclient.peak

    assert asyncio.run(go()) == 3


def test_requests_per_minute_spreads_requests_out(srv: FakeServer, tmp_path: Path) -> None:
    started = time.monotonic()
    report = run("sync", srv, make_rows(15), tmp_path / "out.jsonl", requests_per_minute=600)
    assert report.written == 15
    assert time.monotonic() - started >= 0.45  # a burst of 10, then 10 per second


# -- arguments and reporting --------------------------------------------------------------------


def test_clients_of_the_wrong_kind_and_bad_files_are_refused_before_anything_is_written(
    srv: FakeServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with terse.Client(base_url=srv.base_url, model="m") as client:
        with pytest.raises(terse.UsageError, match="AsyncClient"):
            asyncio.run(
                arun_batch([], client=client, prompt="x", response_model=None, out=out)  # type: ignore[arg-type]  # the point
            )
        with pytest.raises(terse.UsageError, match="different"):
            run_batch([], client=client, prompt="x", response_model=None, out=out, errors=out)
        with pytest.raises(terse.UsageError, match=r"\{\{"):
            run_batch([], client=client, prompt='{"a": 1}', response_model=None, out=out)
    assert not out.exists()


def test_progress_line_and_summary_go_to_stderr_only_when_asked(
    srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run("sync", srv, make_rows(5), tmp_path / "a.jsonl", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "terse: " in captured.err
    assert "rows/s" in captured.err
    assert "terse batch summary" in captured.err
    assert any(
        line.split()[:2] == ["written", "5"] for line in captured.err.splitlines() if line.strip()
    )
    run("sync", srv, make_rows(5), tmp_path / "b.jsonl", progress=False)
    assert capsys.readouterr().err == ""


# -- the command line ---------------------------------------------------------------------------

SCHEMA = "from pydantic import BaseModel\n\nclass Rec(BaseModel):\n    name: str\n    n: int\n"


def cli_args(tmp_path: Path, base_url: str, *extra: str) -> list[str]:
    schema = tmp_path / "schema_mod.py"
    schema.write_text(SCHEMA)
    source = tmp_path / "in.jsonl"
    if not source.exists():
        source.write_text("".join(json.dumps(r) + "\n" for r in make_rows(6)))
    return [
        "extract",
        "--in",
        str(source),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--schema",
        f"{schema}:Rec",
        "--prompt",
        "Extract from {text}",
        "--model",
        "m",
        "--base-url",
        base_url,
        "--max-retries",
        "0",
        "--timeout",
        "10",
        *extra,
    ]


def test_cli_exits_0_when_every_row_is_written_and_1_when_some_fail(
    srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cli_args(tmp_path, srv.base_url, "--concurrency", "3")) == 0
    assert len(ids(tmp_path / "out.jsonl")) == 6
    assert "terse batch summary" in capsys.readouterr().err
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "z", "text": "text z."}) + "\n")
    srv.route("text z.", BAD)
    assert main(cli_args(tmp_path, srv.base_url, "--no-progress")) == 1
    assert ids(tmp_path / "out.errors.jsonl") == ["z"]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--schema", "no_such_module_xyz:Rec"), "cannot load --schema"),
        (("--schema", "just-a-name"), "module:Name"),
        (("--prompt", "Give {0}"), "{{"),
        (("--api-key-env", "TERSE_TEST_UNSET_KEY"), "TERSE_TEST_UNSET_KEY is not set"),
        (("--in", "/nonexistent/in.jsonl"), "No such file"),
    ],
)
def test_cli_exits_2_on_bad_arguments_without_writing(
    srv: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: tuple[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("TERSE_TEST_UNSET_KEY", raising=False)
    args = cli_args(tmp_path, srv.base_url)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()
    assert generations(srv) == []


# -- killed at random moments -------------------------------------------------------------------

JOB = "import sys; from terse._cli.main import main; sys.exit(main())"


def count_lines(*paths: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in paths if p.exists())


def kill_while_writing(
    proc: subprocess.Popen[bytes], paths: tuple[Path, Path], delay: float
) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after it writes its first new line; False if it ended first."""
    before, deadline = count_lines(*paths), time.monotonic() + 30
    while proc.poll() is None and count_lines(*paths) == before:
        assert time.monotonic() < deadline, "the job wrote nothing for 30 s"
        time.sleep(0.01)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return True


@pytest.mark.parametrize("fsync", ["group", "off"])
def test_sigkill_at_random_moments_then_a_rerun_leaves_each_id_exactly_once(
    tmp_path: Path, fsync: str
) -> None:
    """Kill the CLI job (SIGKILL) at random moments, once while it starts and five times
    while it writes, then let it finish.

    Every input id must then be in exactly one line of the output or errors file, every
    line whole; rows the server answers badly are in errors, the rest in the output.
    """
    rng = random.Random(f"batch-{fsync}")
    n = 400
    bad = {f"r{i}" for i in range(0, n, 10)}
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_rows(n)))
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    with FakeServer("vllm") as server:
        server.default = SlowStart(0.03, then=GOOD)
        for row_id in bad:
            server.route(f"text {row_id[1:]}.", BAD)
        args = [sys.executable, "-c", JOB, *cli_args(tmp_path, server.base_url)]
        args += ["--concurrency", "4", "--fsync", fsync, "--no-progress"]
        starting = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.5))
        starting.kill()
        starting.wait(timeout=10)
        kills = []
        for _ in range(5):
            proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.DEVNULL)
            if kill_while_writing(proc, (out, errors), rng.uniform(0.0, 0.6)):
                kills.append(count_lines(out, errors))
        final = subprocess.run(args, cwd=tmp_path, timeout=60, stderr=subprocess.PIPE, text=True)
    assert final.returncode == 1, final.stderr  # the bad rows failed
    assert len(kills) >= 4, f"only {kills} kills landed mid-job"
    written, failed = ids(out), ids(errors)
    assert sorted(written + failed) == sorted(f"r{i}" for i in range(n))
    assert set(failed) == bad


def test_run_batch_and_arun_batch_take_the_same_arguments() -> None:
    import inspect

    sync = inspect.signature(run_batch).parameters
    asyn = inspect.signature(arun_batch).parameters
    assert list(sync) == list(asyn)
    for name, param in sync.items():
        assert (param.kind, param.default) == (asyn[name].kind, asyn[name].default), name
    assert inspect.iscoroutinefunction(arun_batch)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--concurrency", "0"),
        ("--rpm", "-1"),
        ("--base-url", "localhost:8080"),
        ("--max-retries", "-1"),
    ],
)
def test_cli_refuses_impossible_option_values_with_exit_2(
    srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    args = cli_args(tmp_path, srv.base_url)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own usage error
        code = exit.code  # type: ignore[assignment]  # argparse exits with an int
    assert code == 2
    assert option.strip("-").replace("-", "_") in capsys.readouterr().err.replace("-", "_")
    assert not (tmp_path / "out.jsonl").exists()
