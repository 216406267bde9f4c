"""Extraction jobs over thousands of records: `run_batch` (threads) and `arun_batch` (asyncio).

A job reads rows (a JSONL file or any iterable of dicts, streamed), asks the model once per
row through a terse client, and appends one line per row to the output file — or, when
the row fails after its retries, to the errors file::

    import terse
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    client = terse.Client(base_url="http://127.0.0.1:8080/v1", model="qwen3")
    report = terse.run_batch(
        "people.jsonl",
        client=client,
        prompt="Extract the person from this text:\\n{text}",
        response_model=Person,
        out="people.out.jsonl",  # errors go to people.out.errors.jsonl
        concurrency=16,
        thinking_budget=512,  # any other keyword goes to client.ask
    )
    print(report.written, report.failed)

Output lines are ``{"id", "value", "usage", "attempts", "budget"}``; error lines are
``{"id", "row", "error", "message", "cause", "attempts"}`` (plus ``"text"``, the answer
that failed, when there was one).

Guarantees:

- **Exactly once.** Kill the job at any moment (SIGKILL included) and run it again: it
  truncates a torn last line, skips every id already in the output or errors file, and
  ends with each input id in exactly one of them, once. ``retry_errors=True`` moves the
  errors file aside (to ``….retried``, deleted when the job finishes) and runs those rows
  again.
- **One writer.** The output and errors files are locked (``flock``) while the job runs;
  a second job on them fails at once. Only regular files are accepted, and every OS error
  on them is a `UsageError` (``JournalError``) with the ``OSError`` as its cause.
- **One bad row fails alone.** Any exception from a row's call, expected or not, writes
  that row to the errors file; only failures no row can pass stop the job.
- **Back-pressure.** At most ``concurrency`` requests in flight, optional requests and
  tokens per minute, and a 429 pauses the whole job (for its ``Retry-After``) and halves
  the requests in flight instead of failing the row; see `terse._batch.throttle`.
- **Flat memory.** Rows are read only when a worker is free to send them; what grows is
  the set of ids seen (a few dozen bytes per row).
- **Honest stops.** A job that cannot go on (401/402/403/404, bad arguments, 429s for
  ``patience`` seconds without a success) stops, closes its files and raises; running
  it again resumes.

`run_batch` runs ``concurrency`` threads over a `Client`; `arun_batch` runs as many
asyncio tasks over an `AsyncClient`. Both share `terse._batch.job.Job` and differ only in
how they wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._client.aio import AsyncClient
from .._client.sync import Client
from .._exceptions import UsageError
from .job import Job
from .journal import FsyncPolicy
from .progress import BatchReport

__all__ = ["BatchReport", "arun_batch", "run_batch"]

Rows = str | os.PathLike[str] | Iterable[Mapping[str, Any]]
PromptArg = str | Callable[[Mapping[str, Any]], Any]

_POLL = 1.0  # longest a waiting worker sleeps before looking again (a safety net, not a timer)
_TICK = 0.2  # how often the progress line is considered for redrawing


def run_batch(
    rows: Rows,
    *,
    client: Client,
    prompt: PromptArg,
    response_model: Any,
    out: str | os.PathLike[str],
    errors: str | os.PathLike[str] | None = None,
    id_field: str = "id",
    concurrency: int = 8,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    progress: bool = True,
    retry_errors: bool = False,
    fsync: FsyncPolicy = "group",
    patience: float = 600.0,
    **ask_kwargs: Any,
) -> BatchReport:
    """Ask ``client`` about every row and append each answer to ``out``; returns a `BatchReport`.

    Args:
        rows: A JSONL path, or an iterable of dicts; read lazily, never all at once.
        client: The `Client` to ask with (its model, budget and retry defaults apply).
        prompt: A ``str.format`` template over the row's fields (``"Summarise {text}"``;
            literal braces doubled), or a function from a row to a prompt or messages.
            A row missing a field fails with a clear error; the template is checked first.
        response_model: The type of each value (a pydantic model, ``list[int]``, …), or
            None for the answer text.
        out: The output JSONL file, appended to.
        errors: Where failed rows go; default beside ``out``, its ``.jsonl`` replaced by
            ``.errors.jsonl`` (``people.out.jsonl`` → ``people.out.errors.jsonl``).
        id_field: The row key holding its id (a str or int, unique per row).
        concurrency: Most requests in flight at once.
        requests_per_minute: Start at most this many requests a minute.
        tokens_per_minute: Spend at most about this many tokens a minute (averaged).
        progress: Show a progress line and a final summary on stderr.
        retry_errors: Run rows in the errors file again (the file is moved to ``….retried``
            while the job runs, and deleted when it finishes).
        fsync: ``"group"`` (each row on disk within ~50 ms, fsync in the background),
            ``"row"`` (fsync before the next row is written; slower), or ``"off"``.
        patience: Stop (raising the last error) after this many seconds of 429s or
            connection trouble with no success in between.
        **ask_kwargs: Passed to ``client.ask`` (``thinking_budget=``, ``max_retries=``, …).

    Raises:
        UsageError: Bad arguments (before anything is written), a prompt template naming a
            field the first row lacks, an output another job is writing or that is not a
            regular file, or an OS error on the output or errors file.
        ServerError: The server refused every row (401, 402, 403, 404): the job stopped.
        RateLimited: 429s for longer than ``patience``: the job stopped; run it again.
    """
    if not isinstance(client, Client):
        raise UsageError("run_batch takes a terse.Client; use arun_batch with an AsyncClient")
    job = Job(
        rows,
        prompt=prompt,
        response_model=response_model,
        out=out,
        errors=errors,
        id_field=id_field,
        concurrency=concurrency,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        progress=progress,
        retry_errors=retry_errors,
        fsync=fsync,
        patience=patience,
        ask_kwargs=dict(ask_kwargs),
    )
    try:
        _run_threads(job, client)
    except BaseException:
        job.close(interrupted=True)
        raise
    return job.finish()


async def arun_batch(
    rows: Rows,
    *,
    client: AsyncClient,
    prompt: PromptArg,
    response_model: Any,
    out: str | os.PathLike[str],
    errors: str | os.PathLike[str] | None = None,
    id_field: str = "id",
    concurrency: int = 8,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    progress: bool = True,
    retry_errors: bool = False,
    fsync: FsyncPolicy = "group",
    patience: float = 600.0,
    **ask_kwargs: Any,
) -> BatchReport:
    """The asyncio twin of `run_batch`, over an `AsyncClient` (same arguments and files)."""
    if not isinstance(client, AsyncClient):
        raise UsageError("arun_batch takes a terse.AsyncClient; use run_batch with a Client")
    job = Job(
        rows,
        prompt=prompt,
        response_model=response_model,
        out=out,
        errors=errors,
        id_field=id_field,
        concurrency=concurrency,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        progress=progress,
        retry_errors=retry_errors,
        fsync=fsync,
        patience=patience,
        ask_kwargs=dict(ask_kwargs),
    )
    try:
        await _run_tasks(job, client)
    except BaseException:
        job.close(interrupted=True)
        raise
    return job.finish()


# -- the thread driver -----------------------------------------------------------------------


def _run_threads(job: Job, client: Client) -> None:
    """``concurrency`` worker threads; this thread draws the progress line until they end."""
    cond = threading.Condition()

    def worker() -> None:
        try:
            while True:
                with cond:
                    while not job.stopping and (wait := job.throttle.delay()) > 0:
                        cond.wait(min(wait, _POLL))
                    task = None if job.stopping else job.next_task()
                    if task is None:
                        return
                    reserved = job.throttle.begin()
                try:
                    outcome: Any = client.ask(task.prompt, **job.ask_args)
                except Exception as exc:  # judged by the job: a row error, a pause, or a stop
                    outcome = exc
                with cond:
                    job.settle(task, outcome, reserved)
                    cond.notify_all()
        except BaseException as exc:  # a bug must stop the job, not vanish with its thread
            with cond:
                job.stop(exc)
                cond.notify_all()

    threads = [
        threading.Thread(target=worker, name=f"terse-batch-{i}", daemon=True)
        for i in range(job.concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        while threads:
            threads[0].join(_TICK)
            threads = [t for t in threads if t.is_alive()]
            with cond:
                job.tick()
    except BaseException:
        with cond:  # rows still in flight are dropped unwritten and done again next run
            job.close(interrupted=True)
            cond.notify_all()
        raise


# -- the asyncio driver ----------------------------------------------------------------------


async def _run_tasks(job: Job, client: AsyncClient) -> None:
    """``concurrency`` worker tasks and one that draws the progress line."""
    wake = asyncio.Event()

    async def worker() -> None:
        while True:
            while not job.stopping and (wait := job.throttle.delay()) > 0:
                wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), min(wait, _POLL))
            task = None if job.stopping else job.next_task()
            if task is None:
                return
            reserved = job.throttle.begin()
            try:
                outcome: Any = await client.ask(task.prompt, **job.ask_args)
            except Exception as exc:  # judged by the job: a row error, a pause, or a stop
                outcome = exc
            try:
                job.settle(task, outcome, reserved)
            except Exception as exc:  # a journal that cannot be written stops the job
                job.stop(exc)
                wake.set()
                return
            wake.set()

    async def ticker() -> None:
        while True:
            job.tick()
            await asyncio.sleep(_TICK)

    workers = [asyncio.ensure_future(worker()) for _ in range(job.concurrency)]
    drawing = asyncio.ensure_future(ticker())
    try:
        await asyncio.gather(*workers)
    finally:
        for task in (*workers, drawing):
            task.cancel()
        await asyncio.gather(*workers, drawing, return_exceptions=True)
