"""Run every benchmark and print one table of its headline ratios against their baselines.

Each ``benchmarks/bench_*.py`` runs in its own interpreter, one after the other (never in
parallel: they measure on a shared machine), with a timeout. Their ``RESULT`` lines
(`_report.py`) become the table; a benchmark that prints none contributes the lines of
its own output that state a ratio. Benchmarks that need the real llama-server (``llama``
in the name) are skipped unless ``TERSE_LLAMA=1``.

Run: ``python benchmarks/run_all.py [--only NAME] [--timeout S] [--verbose] [--strict]``.
Exit code 1 when a benchmark crashed or timed out (or, with ``--strict``, missed a target).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _report import parse

HERE = Path(__file__).resolve().parent
RATIO = re.compile(r"\d[\d,.]*x\b")


@dataclass
class Run:
    """What one benchmark script produced."""

    name: str
    status: str  # "ok", "failed (exit N)", "timed out", "skipped: why"
    seconds: float = 0.0
    results: list[dict[str, str]] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)  # ratio lines of a bench without RESULT lines
    output: str = ""


def discover(only: str | None) -> list[Path]:
    """The benchmark scripts, in name order (``--only`` keeps names containing it)."""
    scripts = sorted(HERE.glob("bench_*.py"))
    return [s for s in scripts if only is None or only in s.stem]


def skip_reason(script: Path) -> str | None:
    if "llama" in script.stem and os.environ.get("TERSE_LLAMA") != "1":
        return "needs the real llama-server (TERSE_LLAMA=1)"
    return None


def run(script: Path, timeout: float) -> Run:
    """Run one benchmark in a fresh interpreter and collect its figures."""
    reason = skip_reason(script)
    if reason:
        return Run(script.stem, f"skipped: {reason}")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Run(script.stem, f"timed out after {timeout:.0f} s", timeout, output=out)
    seconds = time.perf_counter() - started
    lines = done.stdout.splitlines()
    results = [r for r in map(parse, lines) if r is not None]
    loose = [] if results else [line.strip() for line in lines if RATIO.search(line)]
    status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
    return Run(script.stem, status, seconds, results, loose, done.stdout + done.stderr)


def met(result: dict[str, str]) -> str:
    """``yes``/``NO`` against the target, or ``-`` when the benchmark set none."""
    target = result.get("target", "")
    match = re.fullmatch(r"\s*(<=|>=)\s*([\d.]+)\s*", target)
    if not match:
        return "-"
    value, bound = float(result["value"]), float(match.group(2))
    ok = value <= bound if match.group(1) == "<=" else value >= bound
    return "yes" if ok else "NO"


def table(runs: list[Run]) -> str:
    """The summary: one row per figure, then one per benchmark that gave none."""
    rows = [("benchmark", "metric", "value", "target", "met", "baseline")]
    for r in runs:
        for res in r.results:
            unit = res.get("unit", "x")
            value = res["value"] + ("x" if unit == "x" else f" {unit}")
            rows.append(
                (
                    r.name,
                    res["metric"],
                    value,
                    res.get("target") or "-",
                    met(res),
                    res.get("baseline", ""),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    for r in runs:
        if r.results:
            continue
        lines.append(
            f"{r.name}: {r.status}" + ("" if r.loose or r.status != "ok" else ", no figures")
        )
        lines.extend(f"    {line}" for line in r.loose)
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", metavar="NAME", help="run only benchmarks whose name contains NAME"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="S",
        help="seconds per benchmark (default: 900)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print each benchmark's own output"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    scripts = discover(args.only)
    if not scripts:
        parser.error(f"no benchmark matches {args.only!r}")
    runs = []
    for script in scripts:
        print(f"{script.stem:24s} ...", end=" ", flush=True)
        result = run(script, args.timeout)
        print(
            f"{result.status} ({result.seconds:.1f} s)" if result.seconds else result.status,
            flush=True,
        )
        if args.verbose or not (result.status == "ok" or result.status.startswith("skipped")):
            print("\n".join(f"    {line}" for line in result.output.splitlines()))
        runs.append(result)
    print()
    print(table(runs))
    broken = [r for r in runs if not (r.status == "ok" or r.status.startswith("skipped"))]
    missed = [res for r in runs for res in r.results if met(res) == "NO"]
    if missed:
        print(
            f"\n{len(missed)} target(s) missed on this run (ratios on a shared machine vary; rerun to confirm)"
        )
    return 1 if broken or (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
