"""Real llama-server fixtures: one server per chat template, started once per test session.

The servers come from ``scripts/llama_server.py`` (built and cached on first use, 5-12 minutes on
2 cores). Tests marked ``llama`` are skipped unless ``TERSE_LLAMA=1``; with it set, a binary or model
that cannot be obtained is an error, never a silent skip.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "llama_server.py"
ENABLED = os.environ.get("TERSE_LLAMA") == "1"
SKIP_REASON = (
    "real llama-server tests are off; set TERSE_LLAMA=1 to build/start one (first build 5-12 min)"
)


def _load_script() -> ModuleType:
    """Import scripts/llama_server.py by path (scripts/ is not a package)."""
    name = "terse_llama_server_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


llama_server = _load_script()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("llama") is not None and not ENABLED:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def _llama_assets() -> tuple[Path, Path]:
    """The cached binary and model, obtained once; failure fails every llama test with the cause."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    try:
        return llama_server.ensure_binary(log=sys.stderr), llama_server.ensure_model(log=sys.stderr)
    except llama_server.LlamaServerError as exc:
        error = str(exc)
    pytest.fail(error, pytrace=False)  # outside ``except``: the script's message is the whole story


@pytest.fixture(scope="session")
def llama_servers(_llama_assets: tuple[Path, Path]) -> Iterator[Callable[[str], Any]]:
    """Start servers lazily by template name and stop them all at the end of the session."""
    servers: dict[str, Any] = {}
    with ExitStack() as stack:

        def get(template: str) -> Any:
            if template not in servers:
                try:
                    servers[template] = stack.enter_context(llama_server.running_server(template))
                except llama_server.LlamaServerError as exc:
                    error = str(exc)
                else:
                    return servers[template]
                pytest.fail(error, pytrace=False)
            return servers[template]

        yield get


@pytest.fixture(scope="session")
def llama_chatml(llama_servers: Callable[[str], Any]) -> Any:
    """llama-server with the model's embedded ChatML template (no reasoning)."""
    return llama_servers("none")


@pytest.fixture(scope="session")
def llama_r1(llama_servers: Callable[[str], Any]) -> Any:
    """llama-server whose prompt ends ``<think>\\n`` (DeepSeek-R1 style): a real runaway thinker."""
    return llama_servers("chatml-r1-style")


@pytest.fixture(scope="session")
def llama_kwargs(llama_servers: Callable[[str], Any]) -> Any:
    """llama-server with a Qwen3-style template: ``enable_thinking: false`` turns thinking off."""
    return llama_servers("chatml-think-kwargs")


@pytest.fixture(scope="session")
def llama_minimal(llama_servers: Callable[[str], Any]) -> Any:
    """llama-server with a template the server does not see as reasoning: all output in content."""
    return llama_servers("chatml-think-minimal")
