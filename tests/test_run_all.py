"""benchmarks/run_all.py: runs each benchmark in its own process and tabulates its RESULT lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import run_all  # benchmarks/ is a folder of scripts, not a package
from _report import parse, result


def test_a_result_line_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    result("ask_vs_create", 1.0312, baseline="openai create()", target="<=1.05")
    line = capsys.readouterr().out.strip()
    assert line.startswith("RESULT ")
    assert parse(line) == {
        "metric": "ask_vs_create",
        "value": "1.031",
        "unit": "x",
        "target": "<=1.05",
        "baseline": "openai create()",
    }
    assert parse("ratio: 3x") is None


@pytest.mark.parametrize(
    ("value", "target", "verdict"),
    [
        ("1.03", "<=1.05", "yes"),
        ("1.2", "<=1.05", "NO"),
        ("6", ">=5", "yes"),
        ("4.9", ">=5", "NO"),
        ("2", "", "-"),
    ],
)
def test_targets_are_judged_in_their_direction(value: str, target: str, verdict: str) -> None:
    assert run_all.met({"metric": "m", "value": value, "target": target}) == verdict


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(run_all.HERE)!r})\n{body}\n")
    return path


def test_results_are_collected_and_tabulated(tmp_path: Path) -> None:
    bench = script(
        tmp_path,
        "bench_demo",
        "from _report import result\nprint('a table')\nresult('speedup', 6.1, baseline='openai', target='>=5')",
    )
    done = run_all.run(bench, timeout=60)
    assert done.status == "ok"
    assert [r["metric"] for r in done.results] == ["speedup"]
    table = run_all.table([done])
    assert "bench_demo" in table
    assert "6.1x" in table
    assert "yes" in table


def test_a_benchmark_without_result_lines_shows_its_ratio_lines(tmp_path: Path) -> None:
    bench = script(tmp_path, "bench_old", "print('header')\nprint('  ratio: 11.1x the baseline')")
    done = run_all.run(bench, timeout=60)
    assert done.loose == ["ratio: 11.1x the baseline"]
    assert "ratio: 11.1x the baseline" in run_all.table([done])


def test_crashes_and_timeouts_are_reported(tmp_path: Path) -> None:
    crash = run_all.run(script(tmp_path, "bench_crash", "raise SystemExit(3)"), timeout=60)
    assert crash.status == "failed (exit 3)"
    slow = run_all.run(script(tmp_path, "bench_slow", "import time\ntime.sleep(30)"), timeout=1)
    assert slow.status.startswith("timed out")


def test_llama_benchmarks_need_terse_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = script(tmp_path, "bench_llama_x", "print('ran')")
    monkeypatch.delenv("TERSE_LLAMA", raising=False)
    assert run_all.run(bench, timeout=60).status.startswith("skipped")
    monkeypatch.setenv("TERSE_LLAMA", "1")
    assert run_all.run(bench, timeout=60).status == "ok"
