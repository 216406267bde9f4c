"""The I/O-free parts of batch jobs: torn-line repair, prompts, verdicts, the throttle, reports."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terse import (
    ConnectionFailed,
    ExtractionError,
    RateLimited,
    RetriesExhausted,
    ServerError,
    UsageError,
)
from terse._batch.job import compile_prompt, errors_path, verdict
from terse._batch.journal import Journal, count_rows, iter_rows, read_recorded, repair_tail
from terse._batch.progress import BatchReport, Tally, Ticker, progress_line
from terse._batch.throttle import MAX_BACKOFF, MAX_DEBT_SECONDS, MAX_REQUEST_TOKENS, Throttle
from terse._results import Usage

# -- torn lines -------------------------------------------------------------------------------


def _repaired(tmp_path: Path, data: bytes) -> tuple[bytes, int]:
    path = tmp_path / "j.jsonl"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    try:
        removed = repair_tail(fd)
    finally:
        os.close(fd)
    return path.read_bytes(), removed


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        (b"", b""),
        (b'{"id":1}\n', b'{"id":1}\n'),
        (b'{"id":1}\n{"id":2}\n', b'{"id":1}\n{"id":2}\n'),
        (b'{"id":1}\n{"id"', b'{"id":1}\n'),
        (b'{"id":1', b""),
        (b'{"id":1}\n\x00\x00\x00', b'{"id":1}\n'),
    ],
)
def test_repair_tail_cuts_only_a_line_without_its_newline(
    tmp_path: Path, data: bytes, kept: bytes
) -> None:
    assert _repaired(tmp_path, data) == (kept, len(data) - len(kept))


@given(
    lines=st.lists(st.dictionaries(st.text(max_size=5), st.integers()), max_size=30),
    torn=st.binary(max_size=200_000).map(lambda b: b.replace(b"\n", b"")),
)
def test_repair_tail_keeps_every_whole_line_whatever_the_torn_tail(
    tmp_path_factory: pytest.TempPathFactory, lines: list[dict[str, int]], torn: bytes
) -> None:
    whole = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    kept, removed = _repaired(tmp_path_factory.mktemp("j"), whole + torn)
    assert (kept, removed) == (whole, len(torn))


def test_journal_opening_a_torn_file_repairs_it_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id":1}\n{"id":2,"val')
    journal = Journal(path, fsync="row")
    journal.append({"id": 3, "value": "é"})
    journal.close()
    assert journal.repaired == len(b'{"id":2,"val')
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"id": 1},
        {"id": 3, "value": "é"},
    ]


def test_journal_refuses_an_unknown_fsync_policy(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="fsync"):
        Journal(tmp_path / "x.jsonl", fsync="sometimes")  # type: ignore[arg-type]  # the point


def test_read_recorded_finds_ids_idless_rows_and_counts_junk(tmp_path: Path) -> None:
    out, err = tmp_path / "o.jsonl", tmp_path / "e.jsonl"
    out.write_text('{"id": "a"}\n{"id": 7}\nnot json\n[1]\n{"id": true}\n{"id": "torn')
    err.write_text('{"id": null, "row": 12}\n{"id": "b"}\n{"id": 7}\n')
    found = read_recorded(out, err)
    assert (found.done, found.failed) == ({"a", 7}, {"b"})
    assert "b" in found
    assert "c" not in found
    assert found.rows == {12}
    assert found.unreadable == 2


def test_iter_rows_numbers_file_lines_and_flags_lines_that_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n\n[2]\n{oops\n{"id": 5}')
    rows = list(iter_rows(path))
    assert [n for n, _ in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"id": 1}
    assert "JSON list" in rows[1][1].reason
    assert "not JSON" in rows[2][1].reason
    assert count_rows(path) == 5
    assert count_rows(iter([])) is None
    assert count_rows([{}, {}]) == 2


# -- prompts and file names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    ['Give JSON like {"name": 1} for {text}', "Row {0}", "Row {}", "Unclosed {text", "Bad }"],
)
def test_templates_that_cannot_work_are_refused_before_any_row(template: str) -> None:
    with pytest.raises(UsageError, match=r"\{\{"):
        compile_prompt(template)


def test_a_template_renders_row_fields_and_names_a_missing_one() -> None:
    render = compile_prompt('Text: {text} ({meta[lang]}) {{"literal": true}}')
    assert render({"text": "hi", "meta": {"lang": "en"}}) == 'Text: hi (en) {"literal": true}'
    with pytest.raises(UsageError, match="needs field 'text'"):
        render({"meta": {"lang": "en"}})


def test_a_callable_prompt_is_used_as_is() -> None:
    def fn(row: object) -> str:
        return "x"

    assert compile_prompt(fn) is fn


@pytest.mark.parametrize(
    ("out", "errors"),
    [
        ("res.jsonl", "res.errors.jsonl"),
        ("dir/res.out.jsonl", "dir/res.out.errors.jsonl"),
        ("res.json", "res.json.errors.jsonl"),
        ("res", "res.errors.jsonl"),
    ],
)
def test_default_errors_file_sits_beside_the_output(out: str, errors: str) -> None:
    assert errors_path(Path(out)) == Path(errors)


# -- what a failure means for the job ----------------------------------------------------------


def _exhausted(cause: BaseException) -> RetriesExhausted:
    err = RetriesExhausted("gave up", attempts=[], reason="attempts")
    err.__cause__ = cause
    return err


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RateLimited(429, "slow down", retry_after=2), "rate"),
        (_exhausted(RateLimited(429, "slow down")), "rate"),
        (ConnectionFailed("reset"), "trouble"),
        (_exhausted(ConnectionFailed("reset")), "trouble"),
        (ServerError(503, "busy"), "trouble"),
        (ServerError(400, "context too long"), "row"),
        (_exhausted(ExtractionError("no JSON")), "row"),
        (ExtractionError("no JSON"), "row"),
        (ServerError(401, "bad key"), "fatal"),
        (ServerError(404, "no such model"), "fatal"),
        (UsageError("unknown option"), "fatal"),
        (ZeroDivisionError(), "row"),
        (RecursionError(), "row"),
        (KeyboardInterrupt(), "fatal"),
    ],
)
def test_verdict_pauses_on_pushback_fails_the_row_on_its_own_fault_and_stops_on_fatal(
    exc: BaseException, expected: str
) -> None:
    assert verdict(exc) == expected


# -- the throttle ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_holds_the_window_until_a_request_finishes() -> None:
    t = Throttle(2, clock=Clock())
    assert t.delay() == 0
    t.begin()
    t.begin()
    assert t.delay() == math.inf
    t.finish(0, 10, ok=True)
    assert t.delay() == 0


def test_trouble_halves_the_window_and_successes_grow_it_back() -> None:
    clock = Clock()
    t = Throttle(8, clock=clock)
    t.trouble(retry_after=None)
    assert t.window == 4
    t.trouble(retry_after=None)  # during the same pause: not halved again
    assert t.window == 4
    clock.now += 100
    for _ in range(40):
        t.begin()
        t.finish(0, 1, ok=True)
    assert t.window == 8


def test_retry_after_pauses_every_new_request_for_that_long() -> None:
    clock = Clock()
    t = Throttle(4, clock=clock)
    assert t.trouble(retry_after=3.0) == 3.0
    assert t.delay() == pytest.approx(3.0)
    clock.now += 2.0
    assert t.trouble(retry_after=5.0) == pytest.approx(5.0)  # lengthened, not stacked
    clock.now += 5.0
    assert t.delay() == 0


def test_trouble_without_retry_after_backs_off_exponentially_up_to_a_cap() -> None:
    clock = Clock()
    t = Throttle(4, clock=clock)
    pauses = []
    for _ in range(9):
        pauses.append(t.trouble())
        clock.now += pauses[-1]
    assert pauses == [1, 2, 4, 8, 16, 32, MAX_BACKOFF, MAX_BACKOFF, MAX_BACKOFF]
    assert t.troubled_for() == sum(pauses)
    t.begin()
    t.finish(0, 1, ok=True)
    assert t.troubled_for() == 0
    assert t.trouble() == 1


def test_requests_per_minute_spaces_requests_after_a_one_second_burst() -> None:
    clock = Clock()
    t = Throttle(100, requests_per_minute=120, clock=clock)  # 2/s, burst of 2
    t.begin()
    t.begin()
    assert t.delay() == pytest.approx(0.5)
    clock.now += 0.5
    assert t.delay() == 0


def test_tokens_per_minute_waits_out_the_debt_of_what_requests_really_used() -> None:
    clock = Clock()
    t = Throttle(100, tokens_per_minute=600, clock=clock)  # 10 tokens/s
    reserved = t.begin()
    assert reserved == 0  # nothing known yet
    t.finish(reserved, 50, ok=True)  # the bucket held 10: 40 in debt
    assert t.delay() == pytest.approx(4.0)
    clock.now += 4.0
    assert t.delay() == 0
    assert t.begin() == 50  # later requests reserve the mean


def test_an_absurd_usage_report_holds_the_job_a_minute_at_most() -> None:
    """A response claiming 10**12 tokens must not put the bucket 10**9 seconds in debt."""
    clock = Clock()
    t = Throttle(4, tokens_per_minute=60_000, clock=clock)  # 1,000 tokens/s
    t.finish(t.begin(), 10**12, ok=True)
    held = t.delay()
    assert 0 < held <= MAX_DEBT_SECONDS + 1
    assert t.held() == pytest.approx(held)  # shown on the progress line as a pause
    clock.now += held
    assert t.delay() == 0
    assert t.estimate <= 60_000  # the mean reserved per request is not poisoned either


@pytest.mark.parametrize("bad", [-5, float("nan"), float("inf"), "many", None, 10**30])
def test_reported_usage_is_clamped_to_a_sane_count(bad: object) -> None:
    t = Throttle(1)
    assert 0 <= t.clamp(bad) <= MAX_REQUEST_TOKENS
    t.finish(t.begin(), bad, ok=True)  # type: ignore[arg-type]
    assert t.delay() == 0


def test_concurrent_absurd_reports_do_not_stack_the_debt() -> None:
    clock = Clock()
    t = Throttle(8, tokens_per_minute=600, clock=clock)  # 10 tokens/s
    reserved = [t.begin() for _ in range(8)]
    for r in reserved:
        t.finish(r, 10**15, ok=True)
    assert t.delay() <= MAX_DEBT_SECONDS + 1


@pytest.mark.parametrize(
    "kwargs",
    [{"concurrency": 0}, {"concurrency": 2, "requests_per_minute": 0}, {"tokens_per_minute": -1}],
)
def test_throttle_refuses_limits_that_allow_nothing(kwargs: dict[str, float]) -> None:
    kwargs = {"concurrency": 1, **kwargs}
    with pytest.raises(UsageError):
        Throttle(**kwargs)  # type: ignore[arg-type]  # mixed int/float test table


# -- reports -----------------------------------------------------------------------------------


def test_progress_line_shows_rate_eta_tokens_budget_hits_and_failures() -> None:
    tally = Tally(total=1000, written=180, failed=20, started=0.0, budget_hits=7)
    tally.usage = Usage(reasoning_tokens=123_456, answer_tokens=7_890)
    line = progress_line(tally, 10.0, in_flight=8, paused=3.0)
    for part in (
        "200/1,000 rows (20%)",
        "20.0 rows/s",
        "ETA 40.0s",
        "123.5k reasoning / 7.9k answer",
        "budget hits 7",
        "failed 20",
        "in flight 8",
        "paused 3.0s",
    ):
        assert part in line


def test_progress_line_without_a_known_total_has_no_eta() -> None:
    line = progress_line(Tally(written=5, started=0.0), 1.0)
    assert "5 rows" in line
    assert "ETA" not in line


def test_summary_table_lists_every_count() -> None:
    report = BatchReport(
        written=1950,
        failed=50,
        skipped=1000,
        failed_before=4,
        duplicates=2,
        rate_limited=12,
        requeued=3,
        requests=2104,
        usage=Usage(prompt_tokens=5, reasoning_tokens=6, answer_tokens=7),
        budget_hits=17,
        elapsed=10.0,
        out=Path("o.jsonl"),
        errors=Path("o.errors.jsonl"),
        repaired=9,
    )
    text = report.summary()
    assert not report.ok
    for label, value in [
        ("written", "1,950"),
        ("failed", "50"),
        ("skipped", "1,000"),
        ("of which failed", "4"),
        ("duplicate ids", "2"),
        ("429s absorbed", "12"),
        ("requeued", "3"),
        ("budget hits", "17"),
        ("elapsed", "10.0s"),
        ("torn tail removed", "9 bytes"),
    ]:
        assert any(label in line and value in line for line in text.splitlines()), label
    assert "200.0 rows/s" in text


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_ticker_rewrites_in_place_on_a_terminal_and_prints_lines_in_a_log() -> None:
    tty, log = _Stream(True), _Stream(False)
    for stream in (tty, log):
        ticker = Ticker(stream)  # type: ignore[arg-type]  # a duck-typed stream
        ticker.show("long line", 0.0)
        ticker.show("short", 1.0)
        ticker.end("done")
    assert tty.text == "\rlong line\rshort    \ndone\n"
    assert log.text == "long line\nshort\ndone\n"
    assert Ticker(_Stream(False)).interval > Ticker(_Stream(True)).interval  # type: ignore[arg-type]  # duck-typed


@pytest.mark.parametrize(
    ("policy", "after_append", "after_close"),
    [("row", 2, 3), ("group", 1, 2), ("off", 0, 0)],
)
def test_fsync_policy_decides_when_written_rows_reach_the_disk(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    after_append: int,
    after_close: int,
) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    journal = Journal(tmp_path / "j.jsonl", fsync=policy)  # type: ignore[arg-type]  # table
    journal.append({"id": 1})
    journal.append({"id": 2})
    deadline = time.monotonic() + 5
    while len(synced) < after_append and time.monotonic() < deadline:
        time.sleep(0.01)  # the group policy's background thread batches both rows
    time.sleep(0.2)
    assert len(synced) == after_append
    journal.close()
    assert len(synced) == after_close
