"""``terse serve``: the command prints its URL once it listens, serves, and stops on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from terse._cli.main import main
from terse.testing import FakeServer, Runaway


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child needs POSIX")
def test_terse_serve_port_0_prints_its_url_and_serves() -> None:
    with FakeServer(dialect="inline") as up, _terse_serve(up) as (proc, base_url):
        up.push(Runaway(answer="42"))
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        c = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30)
        r = c.chat.completions.create(messages=[{"role": "user", "content": "q"}], model="m")
        assert r.choices[0].message.content == "42"
        assert r.usage is not None
        assert r.usage.completion_tokens_details is not None
        assert r.usage.completion_tokens_details.reasoning_tokens <= 60
        up.wait_idle()
        assert up.requests[-1].headers["authorization"] == "Bearer sk-test-upstream-0123456789"
        assert httpx.get(base_url + "/nope", timeout=10).json()["error"]["code"] == "not_found"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


def test_binding_beyond_loopback_needs_a_proxy_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--upstream", "http://127.0.0.1:1/v1", "--host", "0.0.0.0"]) == 2
    assert "set a proxy key" in capsys.readouterr().err


def test_a_named_proxy_key_variable_must_be_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TERSE_NO_SUCH_KEY", raising=False)
    argv = ["serve", "--upstream", "http://127.0.0.1:1/v1", "--proxy-key-env", "TERSE_NO_SUCH_KEY"]
    assert main(argv) == 2
    assert "TERSE_NO_SUCH_KEY is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "--upstream"),
        (["serve", "--upstream", "notaurl"], "expected a URL"),
        (["serve", "--upstream", "http://127.0.0.1:1/v1", "--port", "70000"], "0 to 65535"),
        (["serve", "--upstream", "http://127.0.0.1:1/v1", "--reasoning", "keep"], "invalid choice"),
        (["serve", "--upstream", "http://127.0.0.1:1/v1", "--thinking-budget", "0"], ""),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_is_loopback() -> None:
    from terse.serve import is_loopback

    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.2")


KEYS = {
    "TERSE_TEST_UPSTREAM_KEY": "sk-test-upstream-0123456789",
    "TERSE_TEST_PROXY_KEY": "proxy-key-0123456789",
}


def _workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            out.append(int(child))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _terse_serve(up: FakeServer, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``terse serve --port 0`` (budget 40, model m, the test keys) in front of ``up``, and
    its base URL from the line it prints; stopped (SIGINT, else killed) at the end."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "terse._cli.main",
            "serve",
            "--upstream",
            up.base_url,
            "--port",
            "0",
            "--thinking-budget",
            "40",
            "--model",
            "m",
            "--upstream-key-env",
            "TERSE_TEST_UPSTREAM_KEY",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **KEYS},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield proc, next(w for w in line.split() if w.startswith("http://"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def _serve_with_workers(up: FakeServer) -> Iterator[tuple[subprocess.Popen[str], str, list[int]]]:
    """``terse serve --workers 2`` in front of ``up``; every process it started is stopped."""
    workers: list[int] = []
    try:
        with _terse_serve(up, "--workers", "2", "--proxy-key-env", "TERSE_TEST_PROXY_KEY") as (
            proc,
            base_url,
        ):
            deadline = time.monotonic() + 30
            while len(workers) < 2 and time.monotonic() < deadline:
                workers = _workers_of(proc.pid)
                time.sleep(0.05)
            yield proc, base_url, workers
    finally:
        for pid in workers:  # whatever outlived its supervisor: started here, stopped here
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_workers_serve_one_port_from_several_processes() -> None:
    """``--workers 2``: two processes share the port; every request is answered, keys stay put."""
    with FakeServer(dialect="inline") as up, _serve_with_workers(up) as (proc, base_url, workers):
        up.default = Runaway(answer="42")
        assert len(workers) == 2
        c = openai.OpenAI(base_url=base_url, api_key=KEYS["TERSE_TEST_PROXY_KEY"], max_retries=0)
        for _ in range(6):
            r = c.chat.completions.create(messages=[{"role": "user", "content": "q"}], model="m")
            assert r.choices[0].message.content == "42"
            assert r.usage is not None
            assert r.usage.completion_tokens_details is not None
            assert r.usage.completion_tokens_details.reasoning_tokens <= 60
        with pytest.raises(openai.AuthenticationError):  # each worker knows the proxy key
            openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
        up.wait_idle()
        assert {q.headers.get("authorization") for q in up.requests} == {
            "Bearer sk-test-upstream-0123456789"
        }
        # the options reach the workers through the environment; the keys never do
        environ = Path(f"/proc/{workers[0]}/environ").read_bytes().decode(errors="replace")
        spec = dict(v.split("=", 1) for v in environ.split("\0") if "=" in v)["TERSE_SERVE_CONFIG"]
        assert json.loads(spec)["upstream_key_env"] == "TERSE_TEST_UPSTREAM_KEY"
        assert "sk-test-upstream" not in spec
        assert "proxy-key-0123" not in spec
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert not [pid for pid in workers if _alive(pid)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_workers_stop_when_their_supervisor_is_killed_outright() -> None:
    with FakeServer(dialect="inline") as up, _serve_with_workers(up) as (proc, _, workers):
        assert len(workers) == 2
        proc.kill()  # SIGKILL: the supervisor cannot stop them itself
        proc.wait(5)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)]
