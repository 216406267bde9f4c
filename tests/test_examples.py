"""Every script in ``examples/`` runs as a user would run it, against the local simulator.

Each example starts `terse.testing.FakeServer` itself when given no ``--base-url``; the
test runs it in a fresh interpreter (so an example cannot lean on test fixtures) and
checks its exit code and what it printed. ``--base-url`` is checked against a simulator
started here, as a stand-in for a real server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from terse.testing import FakeServer, Reply

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALL = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
# Examples with their own test, because they need more than terse (Ray starts a cluster).
ELSEWHERE = {"ray_batch.py": "tests/test_ray_batch.py"}
SCRIPTS = [name for name in ALL if name not in ELSEWHERE]

# What each example must print when it works: one line of evidence per guarantee it shows.
EVIDENCE = {
    "pipeline_step.py": ["billing  urgency 4", "bug      urgency 5", "feature  urgency 1"],
    "agent_tool.py": ['{"product":"green tea","quantity":3,"express":true}', '{"error": "'],
    "batch_job.py": ["first run:  5 written, 0 failed", "second run: 0 written, 5 skipped"],
    "stream_to_ui.py": ["[thinking]\n  | Sunlight", "[answer]\n> Air molecules"],
    "async_fanout.py": ["Chile    Santiago", "at most 3 in flight"],
    "agent_loop.py": [
        "step 1: check_stock(product='matcha') -> Error: ValueError: unknown product: matcha",
        "step 3: place_order(product='green tea', quantity=3) -> order #1042: 3 x green tea",
        "answer: Ordered 3 green tea: order #1042.",
    ],
}


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_example_is_tested() -> None:
    assert sorted(EVIDENCE) == SCRIPTS
    root = EXAMPLES.parent
    for name in set(ELSEWHERE) & set(ALL):
        assert (root / ELSEWHERE[name]).is_file(), f"{name} has no test of its own"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_against_the_simulator(script: str) -> None:
    done = run(script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local simulator, not a model" in done.stdout
    for evidence in EVIDENCE[script]:
        assert evidence in done.stdout, done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_explains_itself_and_takes_a_server(script: str) -> None:
    done = run(script, "--help")
    assert done.returncode == 0, done.stderr
    assert "--base-url" in done.stdout
    assert "--model" in done.stdout


def test_an_example_talks_to_the_server_it_is_given() -> None:
    with FakeServer(dialect="vllm") as srv:
        srv.default = Reply(reasoning="Rayleigh scattering.", answer="Short waves scatter more.")
        done = run("stream_to_ui.py", "--base-url", srv.base_url, "--model", "given-model")
        bodies = [r.body for r in srv.requests if r.body]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local simulator" not in done.stdout
    assert "> Short waves scatter more." in done.stdout
    assert bodies
    assert all(b["model"] == "given-model" for b in bodies)
