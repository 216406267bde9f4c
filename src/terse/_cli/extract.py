"""``terse extract``: a batch extraction job from the command line (see `terse.run_batch`).

Exit codes: 0 every row of this run was written to the output; 1 some rows went to the
errors file, or the job stopped (run the same command again to resume); 2 bad arguments
or unusable files (a schema that does not import, a prompt template that does not parse
or names a field the first row lacks, a missing key, an output another job is writing or
that is not a regular file, any OS error on the output).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .types import http_url, positive_float, positive_int

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "load_schema", "run"]

HELP = "extract a typed value from every row of a JSONL file (resumable)"

DESCRIPTION = """\
Ask the model about every row of a JSONL file and append one JSON line per row to OUT:
{"id", "value", "usage", "attempts", "budget"}. Rows that still fail after their retries
go to the errors file: OUT with .jsonl replaced by .errors.jsonl (people.out.jsonl ->
people.out.errors.jsonl), unless --errors names another. Killed or interrupted, the same
command resumes where it stopped: ids already in either file are skipped, and each id ends
up in exactly one of them. The prompt is checked against the first row before any request.

exit codes: 0 every row of this run was written; 1 some rows failed or the job stopped (run
it again to resume); 2 bad arguments or unusable files (a prompt field the first row lacks,
an output another job is writing, an output that is not a regular file, an OS error on it).

example:
  terse extract --in people.jsonl --out people.out.jsonl --schema models:Person \\
      --prompt "Extract the person from: {text}" --model qwen3 \\
      --base-url http://127.0.0.1:8080/v1 --concurrency 16 --thinking-budget 512
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``terse extract``'s options to its parser."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the example's layout
    p.add_argument("--in", dest="input", required=True, metavar="IN.jsonl", help="input rows")
    p.add_argument("--out", required=True, metavar="OUT.jsonl", help="output file (appended)")
    p.add_argument(
        "--errors",
        metavar="PATH",
        help="failed rows (default: OUT with .jsonl replaced by .errors.jsonl)",
    )
    p.add_argument(
        "--schema",
        metavar="MODULE:NAME",
        help="type of each value, e.g. models:Person or path/to/models.py:Person "
        "(default: the answer text)",
    )
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--prompt", help="str.format template over row fields: 'Summarise {text}'")
    text.add_argument("--prompt-file", metavar="PATH", help="read the template from a file")
    p.add_argument("--model", required=True, help="model name sent to the server")
    p.add_argument(
        "--base-url",
        required=True,
        type=http_url,
        help="OpenAI-compatible URL, e.g. http://host/v1",
    )
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    p.add_argument(
        "--concurrency", type=positive_int, default=8, metavar="N", help="requests in flight"
    )
    p.add_argument(
        "--thinking-budget", type=positive_int, metavar="N", help="reasoning tokens per row"
    )
    p.add_argument("--max-retries", type=int, metavar="N", help="retries per row (default 2)")
    p.add_argument("--id-field", default="id", metavar="F", help="row key holding its id")
    p.add_argument("--rpm", type=positive_float, metavar="N", help="requests per minute, at most")
    p.add_argument("--tpm", type=positive_float, metavar="N", help="tokens per minute, about")
    p.add_argument("--timeout", type=positive_float, default=600.0, metavar="S", help="per request")
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="run the rows in the errors file again (it is kept as ERRORS.retried while the "
        "job runs, and deleted when the job finishes)",
    )
    p.add_argument(
        "--fsync",
        choices=("group", "row", "off"),
        default="group",
        help="durability of each written row (default: group)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress line or summary")


def load_schema(spec: str) -> Any:
    """The object named by ``module:Name`` or ``path/to/file.py:Name`` (dots allowed in Name).

    Modules are looked up from the current directory first, as ``python -m`` would.
    """
    where, sep, name = spec.partition(":")
    if not sep or not where or not name:
        raise ValueError(f"--schema must look like module:Name, not {spec!r}")
    if where.endswith(".py"):
        path = Path(where)
        loader = importlib.util.spec_from_file_location(path.stem, path)
        if loader is None or loader.loader is None or not path.is_file():
            raise ValueError(f"no such file: {where}")
        module = importlib.util.module_from_spec(loader)
        sys.modules.setdefault(path.stem, module)
        loader.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(where)
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _fail(message: str, code: int) -> int:
    print(f"terse extract: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Run the job; the exit code says whether any row failed (see the module docstring)."""
    from .._batch.api import run_batch
    from .._client.sync import Client
    from .._exceptions import TerseError, UsageError

    try:
        schema = load_schema(args.schema) if args.schema else None
    except Exception as exc:  # whatever importing the user's module raised
        return _fail(f"cannot load --schema {args.schema}: {type(exc).__name__}: {exc}", 2)
    try:
        prompt = Path(args.prompt_file).read_text() if args.prompt_file else args.prompt
    except OSError as exc:
        return _fail(f"cannot read --prompt-file: {exc}", 2)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            return _fail(f"the environment variable {args.api_key_env} is not set", 2)
    options: dict[str, Any] = {}
    if args.thinking_budget is not None:
        options["thinking_budget"] = args.thinking_budget
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    try:
        with Client(
            base_url=args.base_url, api_key=api_key, model=args.model, timeout=args.timeout
        ) as client:
            report = run_batch(
                args.input,
                client=client,
                prompt=prompt,
                response_model=schema,
                out=args.out,
                errors=args.errors,
                id_field=args.id_field,
                concurrency=args.concurrency,
                requests_per_minute=args.rpm,
                tokens_per_minute=args.tpm,
                progress=not args.no_progress,
                retry_errors=args.retry_errors,
                fsync=args.fsync,
                **options,
            )
    except UsageError as exc:
        return _fail(str(exc), 2)
    except OSError as exc:  # the input cannot be read, a folder cannot be made, …
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", 2)
    except TerseError as exc:
        return _fail(f"stopped: {type(exc).__name__}: {exc}", 1)
    return 0 if report.ok else 1
