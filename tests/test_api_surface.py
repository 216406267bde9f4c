"""The public surface: exports are honest, and sync and async mirror each other."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import terse
import terse.testing


@pytest.mark.parametrize("module", [terse, terse.testing])
def test_all_is_sorted_exported_and_complete(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(module, name), name
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n not in ("annotations",)
    }
    assert public <= set(names) | {"__version__"}, public - set(names)


def test_public_objects_have_docstrings() -> None:
    for name in terse.__all__:
        obj = getattr(terse, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"terse.{name} has no docstring"


@pytest.mark.parametrize("method", ["ask", "stream", "probe", "close"])
def test_sync_and_async_clients_have_the_same_signatures(method: str) -> None:
    sync = inspect.signature(getattr(terse.Client, method))
    asyn = inspect.signature(getattr(terse.AsyncClient, method))
    assert list(sync.parameters) == list(asyn.parameters)
    for name, param in sync.parameters.items():
        other = asyn.parameters[name]
        assert (param.kind, param.default) == (other.kind, other.default), name
    assert inspect.iscoroutinefunction(getattr(terse.AsyncClient, method)) == (method != "stream")


def test_constructors_match() -> None:
    sync = inspect.signature(terse.Client.__init__).parameters
    asyn = inspect.signature(terse.AsyncClient.__init__).parameters
    assert [(n, p.kind, p.default) for n, p in sync.items()] == [
        (n, p.kind, p.default) for n, p in asyn.items()
    ]


def test_public_methods_mirror_each_other() -> None:
    def public(cls: type) -> list[str]:
        return sorted(n for n in dir(cls) if not n.startswith("_"))

    assert public(terse.Client) == public(terse.AsyncClient)


def test_typing_examples_pass_mypy_strict() -> None:
    """tests/typing/check_api.py holds assert_type() checks of the public API."""
    pytest.importorskip("mypy")
    target = Path(__file__).parent / "typing" / "check_api.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
