"""The state of one batch job, shared by the thread driver and the asyncio driver.

A `Job` owns everything but the waiting and the HTTP: it reads the input lazily, skips
ids already recorded, renders prompts, turns each outcome into a line of the output or
errors journal, and decides what trouble from the server means (`verdict`). The drivers
in `terse._batch.api` only take tasks from it, wait as its `Throttle` says, call
``client.ask`` and hand the outcome back. Neither driver needs a queue: a worker pulls
the next row only when it is free to send it, so memory does not grow with the input.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import logging
import os
import string
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic_core import to_jsonable_python
from tenacity import retry_if_not_exception_type

from .._client.base import _messages
from .._core.budget import as_budget
from .._core.retry import DEFAULT_RETRY, RetryPolicy, check_max_retries
from .._exceptions import (
    ConnectionFailed,
    RateLimited,
    ResponseError,
    RetriesExhausted,
    ServerError,
    TerseError,
    UsageError,
)
from .._results import Answer, Usage
from .._secrets import scrub
from .journal import (
    BadRow,
    FsyncPolicy,
    Journal,
    JournalError,
    count_rows,
    iter_rows,
    read_recorded,
    valid_id,
)
from .progress import BatchReport, Tally, Ticker, progress_line
from .throttle import MAX_REQUEST_TOKENS, Throttle

__all__ = [
    "MAX_REQUEUES",
    "Job",
    "Task",
    "check_first_row",
    "compile_prompt",
    "duplicate_ids",
    "errors_path",
    "retried_path",
    "verdict",
]

Id = str | int
Prompt = Callable[[Mapping[str, Any]], Any]

MAX_REQUEUES = 3
"""How many times a row goes back in the queue after connection trouble before it fails."""

FATAL_STATUSES = frozenset({401, 402, 403, 404})
"""Statuses no row can get past (bad key, no credit, forbidden, no such model): stop the job."""

Verdict = Literal["rate", "trouble", "row", "fatal"]

log = logging.getLogger("terse")


def _root(exc: BaseException) -> BaseException:
    """The failure behind a `RetriesExhausted`, or the error itself."""
    if isinstance(exc, RetriesExhausted) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


_VERDICTS: tuple[tuple[Callable[[BaseException], bool], Verdict], ...] = (
    (lambda e: isinstance(e, RateLimited), "rate"),
    (lambda e: isinstance(e, ServerError) and e.status in FATAL_STATUSES, "fatal"),
    (lambda e: isinstance(e, ConnectionFailed), "trouble"),
    (lambda e: isinstance(e, ServerError) and e.status >= 500, "trouble"),
    (lambda e: isinstance(e, UsageError), "fatal"),
    (lambda e: isinstance(e, TerseError), "row"),
    (lambda e: isinstance(e, Exception), "row"),  # unexpected, but only this row's
)


def verdict(exc: BaseException) -> Verdict:
    """What a failed row means for the job, judged by the failure behind it.

    ``"rate"``: a 429 — pause the job, put the row back, never fail it. ``"trouble"``: the
    server dropped or broke (after the client's own retries) — pause, put the row back, at
    most `MAX_REQUEUES` times. ``"row"``: this row failed — write it to the errors file;
    an unexpected exception from the call (not a `TerseError`) is this row's failure too,
    so one bad row never stops the job. ``"fatal"``: no row can succeed (bad key, unknown
    model, wrong arguments) — stop the job and raise.
    """
    root = _root(exc)
    for test, result in _VERDICTS:
        if test(root):
            return result
    return "fatal"


def compile_prompt(prompt: str | Prompt) -> Prompt:
    """A row → prompt function from a ``str.format`` template (checked now) or a callable."""
    if callable(prompt):
        return prompt
    if not isinstance(prompt, str):
        raise UsageError("prompt must be a str.format template or a callable row -> prompt")
    hint = "write literal braces (say, in a JSON example) as {{ and }}"
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None]
    except ValueError as exc:
        raise UsageError(f"the prompt is not a valid template ({exc}); {hint}") from None
    for name in fields:
        root = name.split(".")[0].split("[")[0]
        if not root.isidentifier():
            raise UsageError(f"the prompt names the field {{{name}}}; fields are row keys; {hint}")

    def render(row: Mapping[str, Any]) -> str:
        try:
            return prompt.format_map(row)
        except KeyError as exc:
            raise UsageError(
                f"the prompt needs field {exc}, which this row does not have"
            ) from None

    return render


def _template_roots(prompt: str) -> list[str]:
    roots = []
    for _, name, _, _ in string.Formatter().parse(prompt):
        if name is not None:
            root = name.split(".")[0].split("[")[0]
            if root not in roots:
                roots.append(root)
    return roots


def check_first_row(prompt: str | Prompt, row: Any) -> None:
    """Refuse a template naming a field the first row lacks, before any request is made.

    A typo (``{txt}`` for ``{text}``) would otherwise fail every row, one paid-for error
    line at a time, and a corrected re-run would skip them all as done.
    """
    if not isinstance(prompt, str) or not isinstance(row, Mapping):
        return
    missing = [root for root in _template_roots(prompt) if root not in row]
    if not missing:
        return
    fields = [str(k) for k in row]
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, fields, n=1)
        if close:
            hints.append(f"{{{name}}} → {{{close[0]}}}?")
    raise UsageError(
        f"the prompt names {', '.join('{' + m + '}' for m in missing)}, which the first row "
        f"does not have (its fields: {', '.join(fields) or 'none'})"
        + (f"; did you mean {' '.join(hints)}" if hints else "")
    )


DUPLICATES_SHOWN = 5
"""How many duplicate ids the warning at the start of a job names."""


def duplicate_ids(rows: Any, id_field: str) -> tuple[int, list[Any]]:
    """How many rows repeat an earlier row's id, and the first few such ids.

    Only inputs that can be read twice are scanned: a JSONL path, a list or a tuple (a
    generator is read once, by the job; its duplicates are counted as they come).
    """
    if not isinstance(rows, (str, os.PathLike, list, tuple)):
        return 0, []
    seen: set[Any] = set()
    count, first = 0, list[Any]()
    for _, row in iter_rows(rows):
        key = row.get(id_field) if isinstance(row, Mapping) else None
        if not valid_id(key):
            continue
        if key in seen:
            count += 1
            if len(first) < DUPLICATES_SHOWN and key not in first:
                first.append(key)
        else:
            seen.add(key)
    return count, first


def _check_ask_options(options: Mapping[str, Any]) -> None:
    """Refuse the common wrong ``ask`` options now, before any file is touched."""
    if "prompt" in options:
        raise UsageError("prompt is run_batch's own argument, not an ask() option")
    check_max_retries(options.get("max_retries", 0))
    as_budget(options.get("thinking_budget"))


def retried_path(errors: Path) -> Path:
    """Where ``retry_errors`` keeps the old errors file while its rows run again."""
    return errors.with_name(errors.name + ".retried")


def errors_path(out: Path) -> Path:
    """``results.jsonl`` → ``results.errors.jsonl`` (any other name gets ``.errors.jsonl`` added)."""
    name = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return out.with_name(name + ".errors.jsonl")


@dataclass(frozen=True)
class Task:
    """One row on its way to the model."""

    id: Id
    row: int
    prompt: Any
    troubles: int = 0


def _brief(exc: BaseException | None) -> str | None:
    return None if exc is None else scrub(f"{type(exc).__name__}: {exc}")


class Job:
    """One batch job's files, counts and limits (see the module docstring)."""

    def __init__(
        self,
        rows: Any,
        *,
        prompt: str | Prompt,
        response_model: Any,
        out: str | os.PathLike[str],
        errors: str | os.PathLike[str] | None,
        id_field: str,
        concurrency: int,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        progress: bool,
        retry_errors: bool,
        fsync: FsyncPolicy,
        patience: float,
        ask_kwargs: dict[str, Any],
    ) -> None:
        self.out_path = Path(out)
        self.errors_path = Path(errors) if errors is not None else errors_path(self.out_path)
        if self.out_path.resolve() == self.errors_path.resolve():
            raise UsageError("out and errors must be different files")
        if isinstance(rows, (str, os.PathLike)) and Path(rows).resolve() in (
            self.out_path.resolve(),
            self.errors_path.resolve(),
        ):
            raise UsageError("the input must not be the output or errors file")
        _check_ask_options(ask_kwargs)
        if not patience > 0:
            raise UsageError(f"patience must be positive, not {patience!r}")
        self.render = compile_prompt(prompt)
        self._rows: Iterator[tuple[int, Any]] = iter_rows(rows)
        first = next(self._rows, None)
        if first is not None:
            check_first_row(prompt, first[1])
            self._rows = itertools.chain([first], self._rows)
        self.throttle = Throttle(
            concurrency,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
        )
        self.concurrency = concurrency
        self.id_field = id_field
        self.patience = patience
        self.ask_args = self._ask_args(response_model, ask_kwargs)
        self.tally = Tally(total=count_rows(rows))
        self.ticker = Ticker(sys.stderr) if progress else None
        self.stopping = False
        self.fatal: BaseException | None = None
        self.requeued: deque[Task] = deque()
        self.claimed: set[Id] = set()
        self.report: BatchReport | None = None
        for path in (self.out_path, self.errors_path):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalError(
                    f"cannot create the folder {path.parent}: {exc.strerror or exc}"
                ) from exc
        # The output's lock is taken first: a second job on the same files stops here,
        # before it could move the first job's errors file aside.
        self.out = Journal(self.out_path, fsync)
        try:
            self.retried = retried_path(self.errors_path)
            if retry_errors and self.errors_path.exists():
                os.replace(self.errors_path, self.retried)
            self.err = Journal(self.errors_path, fsync)
        except BaseException as exc:
            self.out.close()
            if isinstance(exc, OSError):
                raise JournalError(f"cannot set up {self.errors_path}: {exc}") from exc
            raise
        self.tally.repaired = self.out.repaired + self.err.repaired
        self.recorded = read_recorded(self.out_path, self.errors_path)
        repeats, shown = duplicate_ids(rows, id_field)
        if repeats:
            more = ", …" if repeats > len(shown) else ""
            log.warning(
                "terse: %d row%s of the input repeat%s an earlier id (%s%s); each id is asked "
                "once and the repeats are skipped",
                repeats,
                "" if repeats == 1 else "s",
                "s" if repeats == 1 else "",
                ", ".join(repr(k) for k in shown),
                more,
            )

    @staticmethod
    def _ask_args(response_model: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        # A 429 must end the call at once, so the whole job pauses rather than each row.
        policy = kwargs.pop("retry_policy", None) or RetryPolicy()
        if not isinstance(policy, RetryPolicy):
            raise UsageError(f"retry_policy must be a terse.RetryPolicy, not {policy!r}")
        retry = retry_if_not_exception_type(RateLimited) & (policy.retry or DEFAULT_RETRY)
        policy = replace(policy, retry=retry)
        return {**kwargs, "response_model": response_model, "retry_policy": policy}

    # -- taking rows -------------------------------------------------------------------------

    def next_task(self) -> Task | None:
        """The next row to send (a requeued one first), or None when the input is used up."""
        if self.requeued:
            return self.requeued.popleft()
        for number, row in self._rows:
            task = self._admit(number, row)
            if task is not None:
                return task
        return None

    def _admit(self, number: int, row: Any) -> Task | None:
        key = row.get(self.id_field) if isinstance(row, Mapping) else None
        if not valid_id(key):
            self._reject(number, row)
            return None
        if key in self.recorded:
            self.tally.skipped += 1
            self.tally.failed_before += key in self.recorded.failed
            return None
        if key in self.claimed:
            self.tally.duplicates += 1
            return None
        self.claimed.add(key)
        try:
            prompt = self.render(row)
            _messages(prompt)  # a prompt ask() would refuse is this row's fault, not the job's
        except Exception as exc:  # the user's prompt function: its failure is this row's
            self._write_error(Task(key, number, None), exc)
            return None
        return Task(key, number, prompt)

    def _reject(self, number: int, row: Any) -> None:
        """Record a row with no usable id (or no row at all) by its row number."""
        if number in self.recorded.rows:
            self.tally.skipped += 1
            self.tally.failed_before += 1
            return
        if isinstance(row, BadRow):
            reason = row.reason
        elif not isinstance(row, Mapping):
            reason = f"row {number} is a {type(row).__name__}, not a mapping"
        else:
            reason = f"row {number} has no usable {self.id_field!r} (a str or int)"
        self.err.append({"id": None, "row": number, "error": "UsageError", "message": reason})
        self.tally.failed += 1

    # -- outcomes ----------------------------------------------------------------------------

    def settle(self, task: Task, outcome: Answer[Any] | BaseException, reserved: float) -> None:
        """Record how a request ended: a line in a journal, a requeue, or the job stopping."""
        if self.out.closed:
            return  # the job was interrupted; this row is simply done again next run
        clamped = self.throttle.clamped
        try:
            self._settle(task, outcome, reserved)
        finally:
            if self.throttle.clamped and not clamped:  # said once per job, never silently
                log.warning(
                    "terse: a response reported more tokens than one request may count for; "
                    "it counts as %s (a minute of tokens_per_minute, %s at most), so no "
                    "report can hold the job for more than about a minute",
                    f"{self.throttle.token_cap:,}",
                    f"{MAX_REQUEST_TOKENS:,}",
                )

    def _settle(self, task: Task, outcome: Answer[Any] | BaseException, reserved: float) -> None:
        if isinstance(outcome, Answer):
            self.throttle.finish(reserved, outcome.usage.total_tokens, ok=True)
            self._write_answer(task, outcome)
            return
        attempts = getattr(outcome, "attempts", ())
        spent = sum((a.usage for a in attempts), Usage())
        self.throttle.finish(reserved, spent.total_tokens, ok=False)
        judged = verdict(outcome)
        if judged == "fatal":
            self.stop(_root(outcome) if isinstance(outcome, RetriesExhausted) else outcome)
        elif judged == "rate" or (judged == "trouble" and task.troubles < MAX_REQUEUES):
            retry_after = getattr(_root(outcome), "retry_after", None)
            self.throttle.trouble(retry_after)
            if judged == "rate":
                self.tally.rate_limited += 1
            else:
                self.tally.requeued += 1
            self.requeued.append(replace(task, troubles=task.troubles + (judged == "trouble")))
            if self.throttle.troubled_for() > self.patience:
                self.stop(_root(outcome))
        else:
            self._write_error(task, outcome)

    def _write_answer(self, task: Task, answer: Answer[Any]) -> None:
        try:
            value = to_jsonable_python(answer.value)
        except Exception as exc:  # a value pydantic cannot serialise fails its row only
            self._write_error(task, exc)
            return
        self.out.append(
            {
                "id": task.id,
                "value": value,
                "usage": answer.usage.to_dict(),
                "attempts": [a.to_dict() for a in answer.attempts],
                "budget": asdict(answer.budget) if answer.budget is not None else None,
            }
        )
        tally = self.tally
        tally.written += 1
        tally.requests += len(answer.attempts)
        tally.usage = tally.usage + answer.usage
        tally.budget_hits += bool(answer.budget is not None and answer.budget.hit)

    def _write_error(self, task: Task, exc: BaseException) -> None:
        attempts = list(getattr(exc, "attempts", ()))
        root = _root(exc)
        record: dict[str, Any] = {
            "id": task.id,
            "row": task.row,
            "error": type(exc).__name__,
            "message": scrub(str(exc)),
            "cause": _brief(root) if root is not exc else None,
            "attempts": [a.to_dict() for a in attempts],
        }
        if isinstance(root, ResponseError) and root.text:
            record["text"] = scrub(root.text[:2000])
        self.err.append(record)
        tally = self.tally
        tally.failed += 1
        tally.requests += max(len(attempts), task.prompt is not None)
        tally.usage = sum((a.usage for a in attempts), tally.usage)

    # -- the end -----------------------------------------------------------------------------

    def stop(self, exc: BaseException) -> None:
        """Stop starting rows; the job will raise ``exc`` once in-flight rows are settled."""
        if self.fatal is None:
            self.fatal = exc
        self.stopping = True

    def tick(self, now: float | None = None) -> None:
        """Show the progress line if it is due."""
        if self.ticker is None:
            return
        now = time.monotonic() if now is None else now
        if self.ticker.due(now):
            paused = self.throttle.held()
            line = progress_line(self.tally, now, in_flight=self.throttle.in_flight, paused=paused)
            self.ticker.show(line, now)

    def close(self, *, interrupted: bool = False) -> BatchReport:
        """Close both journals (durably), print the summary, and return the report (once)."""
        if self.report is not None:
            return self.report
        self.stopping = True
        for journal in (self.out, self.err):
            try:
                journal.close()
            except JournalError as exc:  # the rows written before it are whole; say so
                if self.fatal is None:
                    self.fatal = exc
        if self.fatal is None and not interrupted:
            # A finished job recorded every input row in the output or the new errors
            # file, so the old errors kept aside by retry_errors are obsolete.
            with contextlib.suppress(OSError):
                self.retried.unlink(missing_ok=True)
        report = BatchReport.from_tally(
            self.tally, self.out_path, self.errors_path, time.monotonic()
        )
        if self.ticker is not None:
            text = report.summary()
            if interrupted or self.fatal is not None:
                why = "interrupted" if self.fatal is None else f"stopped: {_brief(self.fatal)}"
                text += f"\nterse: {why}; run the same command again to resume"
            self.ticker.end(text)
        self.report = report
        return report

    def finish(self) -> BatchReport:
        """`close`, then raise the error that stopped the job, if one did."""
        report = self.close()
        if self.fatal is not None:
            raise self.fatal
        return report
