"""The Ray Data path (``examples/ray_batch.py``): terse inside Ray actors, against the fake server.

Ray is an optional extra (``pip install "terse[ray]"``); without it these tests skip. The
whole-pipeline test runs the example as a user would, in its own interpreter, where it
starts a local Ray (``ray.init(num_cpus=2, include_dashboard=False)``, loopback only, usage
stats off) — which also keeps Ray's threads and warnings out of the test process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from terse.testing import FakeServer, Reply

pytest.importorskip("ray", reason="Ray is not installed (pip install 'terse[ray]')")
pa = pytest.importorskip("pyarrow", reason="Ray Data needs pyarrow (pip install 'terse[ray]')")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ray_batch.py"
GOOD = {"sentiment": "positive", "product": "kettle"}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ray_batch_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the model's annotations through it
    spec.loader.exec_module(module)
    return module


def script(srv: FakeServer, bad: set[int]) -> None:
    srv.default = Reply(reasoning='Draft: {"sentiment": "mixed"}', answer=json.dumps(GOOD))
    for i in bad:
        srv.route(f"review number {i}.", Reply(answer="no idea"))


def test_the_actor_class_gives_one_record_per_row_and_keeps_failures_visible() -> None:
    example = load_example()
    with FakeServer("vllm") as srv:
        script(srv, bad={1})
        extract = example.Extract(srv.base_url, "m", threads=2, max_retries=0)
        batch = pa.Table.from_pylist([{"id": i, "text": f"review number {i}."} for i in range(3)])
        columns = extract(batch)
        extract.client.close()
    assert columns["id"] == [0, 1, 2]
    assert [json.loads(v) if v else None for v in columns["value"]] == [GOOD, None, GOOD]
    assert [e.split(":")[0] if e else None for e in columns["error"]] == [
        None,
        "ExtractionError",
        None,
    ]
    assert columns["attempts"] == [1, 1, 1]  # a failed call's error carries its attempts too
    assert all(
        n > 0 for n, e in zip(columns["answer_tokens"], columns["error"], strict=True) if not e
    )


def run_in_own_session(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``args``; on timeout stop its whole process group, Ray's daemons included, and fail."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig, grace in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                out, err = proc.communicate(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        pytest.fail(f"the Ray example did not finish in {timeout}s")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.mark.slow
def test_a_ray_data_job_writes_each_row_exactly_once(tmp_path: Path) -> None:
    n, bad = 40, {3, 17, 29}
    source, out = tmp_path / "in.jsonl", tmp_path / "out"
    source.write_text(
        "".join(json.dumps({"id": i, "text": f"review number {i}."}) + "\n" for i in range(n))
    )
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with FakeServer("vllm") as srv:
        script(srv, bad)
        args = ["--base-url", srv.base_url, "--model", "m", "--in", str(source), "--out", str(out)]
        done = run_in_own_session([sys.executable, str(EXAMPLE), *args], env, timeout=240)
        asked = [r for r in srv.requests if r.body and "messages" in r.body]
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    records: list[dict[str, Any]] = [
        json.loads(line)
        for path in out.glob("*.json")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert sorted(r["id"] for r in records) == list(range(n))
    assert {r["id"] for r in records if r["error"]} == bad
    assert all(json.loads(r["value"]) == GOOD for r in records if not r["error"])
    assert len(asked) == n + len(bad)  # each bad row re-asked once (max_retries=1)
    assert f"{n} records, {len(bad)} failed" in done.stdout
