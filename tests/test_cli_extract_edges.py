"""The rough edges of ``terse extract`` a new user hits (issue 14, item 13), and the API behind it.

A typo'd template fails before any request; duplicate ids are reported at the start; the
errors file is named as the help says; ``--retry-errors`` leaves no stray file; the Ray
example says how to install Ray.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import terse
from terse._batch.api import arun_batch, run_batch
from terse._batch.job import Job
from terse._cli.main import main
from terse.testing import FakeServer, Reply

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("vllm") as server:
        server.default = Reply(answer="fine")
        yield server


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "text": f"text {i}."} for i in range(n)]


def cli(srv: FakeServer, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        "extract",
        "--in",
        str(source),
        "--out",
        str(out),
        "--model",
        "m",
        "--base-url",
        srv.base_url,
        "--max-retries",
        "0",
        *extra,
    ]


# -- the template against the first row ----------------------------------------------------


def test_a_typo_in_the_prompt_exits_2_before_any_request(
    srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "in.jsonl", rows(300))
    out = tmp_path / "out.jsonl"
    assert main(cli(srv, source, out, "--prompt", "Extract: {txt}")) == 2
    err = capsys.readouterr().err
    assert "the prompt names {txt}, which the first row does not have" in err
    assert "did you mean {txt} → {text}?" in err
    assert "Traceback" not in err
    assert not srv.requests
    assert not out.exists() or out.read_text() == ""
    assert not (tmp_path / "out.errors.jsonl").exists()
    # the corrected run does every row: nothing was recorded as done
    assert main(cli(srv, source, out, "--prompt", "Extract: {text}", "--no-progress")) == 0
    assert len(out.read_text().splitlines()) == 300


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_api_checks_the_template_against_the_first_row_too(
    mode: str, srv: FakeServer, tmp_path: Path
) -> None:
    kwargs: dict[str, Any] = {
        "prompt": "{text} and {lang}",
        "response_model": None,
        "out": tmp_path / "o.jsonl",
        "progress": False,
    }

    def sync() -> None:
        with terse.Client(base_url=srv.base_url, model="m") as client:
            run_batch(iter(rows(3)), client=client, **kwargs)

    async def go() -> None:
        async with terse.AsyncClient(base_url=srv.base_url, model="m") as client:
            await arun_batch(iter(rows(3)), client=client, **kwargs)

    job = sync if mode == "sync" else lambda: asyncio.run(go())
    with pytest.raises(terse.UsageError, match=r"names \{lang\}.*its fields: id, text"):
        job()
    assert not srv.requests


def test_a_field_only_later_rows_lack_fails_those_rows_alone(
    srv: FakeServer, tmp_path: Path
) -> None:
    data = [*rows(2), {"id": "x"}]
    with terse.Client(base_url=srv.base_url, model="m") as client:
        report = run_batch(
            data,
            client=client,
            prompt="{text}",
            response_model=None,
            out=tmp_path / "o.jsonl",
            progress=False,
        )
    assert (report.written, report.failed) == (2, 1)


# -- duplicates, reported at the start ------------------------------------------------------


def test_duplicate_ids_are_reported_before_the_job_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = [*rows(3), *rows(3), *rows(3), {"id": "r9", "text": "x"}]
    with caplog.at_level(logging.WARNING, logger="terse"):
        job = Job(
            data,
            prompt="{text}",
            response_model=None,
            out=tmp_path / "o.jsonl",
            errors=None,
            id_field="id",
            concurrency=1,
            requests_per_minute=None,
            tokens_per_minute=None,
            progress=False,
            retry_errors=False,
            fsync="off",
            patience=60.0,
            ask_kwargs={},
        )
        job.close()
    [record] = caplog.records
    assert record.getMessage() == (
        "terse: 6 rows of the input repeat an earlier id ('r0', 'r1', 'r2', …); "
        "each id is asked once and the repeats are skipped"
    )


def test_the_cli_reports_duplicates_on_stderr_at_the_start(srv: FakeServer, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", [*rows(2), rows(1)[0]])
    args = cli(srv, source, tmp_path / "o.jsonl", "--prompt", "{text}", "--no-progress")
    proc = subprocess.run(
        [sys.executable, "-m", "terse._cli.main", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("terse: 1 row of the input repeats an earlier id ('r0')")
    assert len(srv.requests) == 2


# -- files the job leaves -------------------------------------------------------------------


def test_the_errors_file_has_the_name_the_help_gives(
    srv: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    help_text = capsys.readouterr().out
    assert "people.out.jsonl ->\npeople.out.errors.jsonl" in help_text
    srv.route("text 1.", Reply(answer=""))  # no answer: this row fails
    source = write_rows(tmp_path / "in.jsonl", rows(2))
    args = cli(srv, source, tmp_path / "people.out.jsonl", "--prompt", "{text}", "--no-progress")
    assert main(args) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl",
        "people.out.errors.jsonl",
        "people.out.jsonl",
    ]


def _break_row_1(srv: FakeServer) -> dict[str, bool]:
    """Make the row "text 1." fail (no answer) while the returned flag is set."""
    flag = {"on": True}
    srv.route(lambda body: flag["on"] and "text 1." in json.dumps(body), Reply(answer=""))
    return flag


def test_retry_errors_leaves_no_other_file(srv: FakeServer, tmp_path: Path) -> None:
    broken = _break_row_1(srv)
    source = write_rows(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "o.jsonl"
    args = cli(srv, source, out, "--prompt", "{text}", "--no-progress")
    assert main(args) == 1
    broken["on"] = False
    assert main([*args, "--retry-errors"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "o.errors.jsonl", "o.jsonl"]
    assert (tmp_path / "o.errors.jsonl").read_text() == ""
    assert len(out.read_text().splitlines()) == 3


def test_an_interrupted_retry_keeps_the_old_errors_until_a_run_finishes(
    srv: FakeServer, tmp_path: Path
) -> None:
    broken = _break_row_1(srv)
    source = write_rows(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "o.jsonl"
    args = cli(srv, source, out, "--prompt", "{text}", "--no-progress")
    assert main(args) == 1
    broken["on"] = False
    srv.default = terse.testing.Fail(401)  # the retry stops at once: a fatal status
    assert main([*args, "--retry-errors"]) == 1
    assert (tmp_path / "o.errors.jsonl.retried").exists()
    srv.default = Reply(answer="fine")
    assert main(args) == 0  # a finished run, even without --retry-errors, cleans up
    assert not (tmp_path / "o.errors.jsonl.retried").exists()
    assert len(out.read_text().splitlines()) == 3


# -- the Ray example without Ray ------------------------------------------------------------


def test_the_ray_example_without_ray_says_how_to_install_it() -> None:
    code = (
        "import runpy, sys; sys.modules['ray'] = None; sys.argv = ['ray_batch.py']; "
        f"runpy.run_path({str(EXAMPLES / 'ray_batch.py')!r}, run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "pip install 'terse[ray]'" in proc.stderr
    assert "Traceback" not in proc.stderr
