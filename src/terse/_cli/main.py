"""The ``terse`` command line: one subcommand per entry in `COMMANDS`.

Each command is a `Command` row — its name, a one-line help, a function that adds its
arguments, and a function that runs it — so a new subcommand is one function pair and
one row. Heavy imports happen inside the command that needs them, so ``terse --help``
stays fast.

Exit codes: 0 success, 1 the command failed, 2 bad arguments (argparse's own), 130
interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from . import demo as _demo
from . import extract as _cli_extract
from . import serve as _cli_serve
from .types import http_url, port, positive_float

__all__ = ["COMMANDS", "Command", "main"]


@dataclass(frozen=True)
class Command:
    """One ``terse`` subcommand.

    Attributes:
        name: What the user types after ``terse``.
        help: One line for ``terse --help``.
        description: The longer text for ``terse NAME --help``.
        arguments: Adds the command's arguments to its parser.
        run: Runs it with the parsed arguments; returns the exit code.
    """

    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _read_stdin() -> str:
    return sys.stdin.read()


# --- strip ---------------------------------------------------------------------------------


def _strip_args(p: argparse.ArgumentParser) -> None:
    del p  # no options: text in, answer out


def _strip(args: argparse.Namespace) -> int:
    from .._wire.split import split

    result = split(_read_stdin())
    if not result.answer:
        why = (
            "the reasoning never closed (the output was cut while the model was thinking)"
            if not result.closed
            else "the output is empty after its reasoning"
        )
        print(f"terse strip: no answer: {why}", file=sys.stderr)
        return 1
    sys.stdout.write(result.answer)
    if not result.answer.endswith("\n"):
        sys.stdout.write("\n")
    return 0


# --- split ---------------------------------------------------------------------------------


def _split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON object (reasoning, answer, closed, format)",
    )


def _split_cmd(args: argparse.Namespace) -> int:
    from .._wire.split import split

    result = split(_read_stdin())
    if args.json:
        out = {
            "reasoning": result.reasoning,
            "answer": result.answer,
            "closed": result.closed,
            "format": result.format,  # the think format that matched, None without one
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(
            f"--- reasoning{'' if result.closed else ' (never closed)'}\n{result.reasoning}\n"
        )
        sys.stdout.write(f"--- answer\n{result.answer}\n")
    return 0


# --- serve-fake ----------------------------------------------------------------------------


def _serve_args(p: argparse.ArgumentParser) -> None:
    from ..testing import DIALECTS

    p.add_argument(
        "--dialect", required=True, choices=sorted(DIALECTS), help="which server to imitate"
    )
    p.add_argument("--port", type=port, default=0, help="port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--tokens-per-second",
        type=float,
        default=None,
        metavar="R",
        help="generation rate (default: unlimited)",
    )
    p.add_argument(
        "--runaway",
        action="store_true",
        help="answer every request with reasoning that never closes",
    )


def _serve(args: argparse.Namespace) -> int:
    import threading

    from ..testing import FakeServer, Runaway

    if args.tokens_per_second is not None and args.tokens_per_second <= 0:
        print("terse serve-fake: --tokens-per-second must be positive", file=sys.stderr)
        return 2
    srv = FakeServer(
        args.dialect, tokens_per_second=args.tokens_per_second, host=args.host, port=args.port
    )
    if args.runaway:
        srv.default = Runaway(answer="42")
    try:
        srv.start()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        print(f"terse serve-fake: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(
            f"terse fake {args.dialect} server (a local simulator, not a model) at {srv.base_url}",
            flush=True,
        )
        print("press Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    finally:
        srv.close()
    return 0


# --- probe ---------------------------------------------------------------------------------


def _probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url",
        type=http_url,
        help="the server's OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1",
    )
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default: OPENAI_API_KEY)",
    )
    p.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds per request (default: 10)"
    )
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument(
        "--generate",
        action="store_true",
        help="also make one tiny test generation (up to 48 tokens) to verify where the server "
        "puts reasoning and whether vLLM's native budget is really there",
    )
    p.add_argument(
        "--model", default=None, help="model for --generate (default: the first one listed)"
    )


def _probe(args: argparse.Namespace) -> int:
    import os

    from .._client.sync import Client
    from .._exceptions import TerseError
    from .demo import Endpoint
    from .demo_real import preflight

    key = os.environ.get(args.api_key_env) or None
    problem = preflight(Endpoint(args.url, model="", api_key=key, timeout=args.timeout))
    if problem:  # the probe itself treats silence as "a generic server"
        print(f"terse probe: {problem}", file=sys.stderr)
        return 1
    try:
        with Client(
            base_url=args.url, api_key=key, timeout=args.timeout, model=args.model
        ) as client:
            info = client.probe(generate=args.generate)
    except TerseError as exc:
        print(f"terse probe: {exc}", file=sys.stderr)
        return 1
    found = {
        "dialect": info.dialect,
        "server": info.label,
        "version": info.version,
        "native_thinking_budget": info.native_budget,
        "template_opens_thinking": info.template_opens_thinking,
        "reasoning": info.reasoning,
    }
    how = {
        "dialect": info.evidence.get("dialect"),
        "native_thinking_budget": info.evidence.get("native_budget"),
        "template_opens_thinking": info.evidence.get("template_opens_thinking"),
        "reasoning": info.evidence.get("reasoning"),
    }
    if args.json:
        out = {**found, "evidence": {k: v for k, v in how.items() if v}}
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        for name, value in found.items():
            shown = "unknown" if value is None else value
            note = how.get(name)
            tail = f"  ({note})" if note and note != "unknown" else ""
            sys.stdout.write(f"{name.replace('_', ' '):24s} {shown}{tail}\n")
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("demo", _demo.HELP, _demo.DESCRIPTION, _demo.add_arguments, _demo.run),
    Command(
        "extract",
        _cli_extract.HELP,
        _cli_extract.DESCRIPTION,
        _cli_extract.add_arguments,
        _cli_extract.run,
    ),
    Command(
        "strip",
        "print the answer of a model output read from stdin",
        "Read a raw model output on stdin and print only its answer, without the reasoning. "
        "When there is no answer (the reasoning never closed, or nothing follows it), say so "
        "on stderr and exit 1.",
        _strip_args,
        _strip,
    ),
    Command(
        "split",
        "separate reasoning and answer of a model output read from stdin",
        "Read a raw model output on stdin and print its reasoning and its answer.",
        _split_args,
        _split_cmd,
    ),
    Command(
        "serve", _cli_serve.HELP, _cli_serve.DESCRIPTION, _cli_serve.add_arguments, _cli_serve.run
    ),
    Command(
        "serve-fake",
        "run a fake reasoning-model server in the foreground",
        "Run terse.testing.FakeServer on loopback until Ctrl-C, for trying clients by hand.",
        _serve_args,
        _serve,
    ),
    Command(
        "probe",
        "ask a server what it is and what thinking controls it has",
        "Ask an OpenAI-compatible server what it is (llama.cpp /props, SGLang /server_info, "
        "vLLM /version, Ollama /api/version, /v1/models) and report the dialect terse will "
        "speak and its capabilities, each marked verified (the server showed it) or assumed.",
        _probe_args,
        _probe,
    ),
)
"""Every subcommand, in the order ``terse --help`` lists them."""


def _version() -> str:
    try:
        return version("terse")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``terse`` and every subcommand in `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="terse", description="Make chatty reasoning models safe for automation."
    )
    parser.add_argument("--version", action="version", version=f"terse {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description)
        cmd.arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``terse`` with ``argv`` (default: the process arguments); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `terse strip | head` closed our stdout early
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
