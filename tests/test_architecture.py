"""docs/architecture.md stays true: every module it names exists, every package is named,
and the pure core never imports an I/O shell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "terse"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

PURE = ("_server", "_wire", "_extract", "tools", "_core")
SHELLS = ("_client", "_http", "_batch", "_cli", "testing")


NAME = re.compile(r"[\w/]+\.py|\b_?\w+/(?=[\s`|),])")  # `pkg/module.py`, `module.py`, `pkg/`


def resolve(name: str, context: str | None) -> Path | None:
    for base in (SRC, SRC / context if context else None):
        if base is not None and (base / name).exists():
            return base / name
    return None


def test_every_module_the_document_names_exists() -> None:
    names = set(NAME.findall(DOC))
    assert len(names) > 40, sorted(names)  # the reader found the tables, not nothing
    missing = []
    for line in DOC.splitlines():
        # A bare `module.py` in a package's table row is relative to that package.
        row = re.match(r"\|\s*`([\w]+)/`\s*\|", line)
        context = row.group(1) if row else None
        for name in NAME.findall(line):
            if name.startswith(("docs/", "tests/")):
                if not (ROOT / name).exists():
                    missing.append(name)
                continue
            if (
                name.endswith("/")
                and not name[:-1].startswith("_")
                and name[:-1]
                not in (
                    "tools",
                    "testing",
                )
            ):
                continue  # prose such as "and/or", not a package
            if resolve(name, context) is None:
                missing.append(name)
    assert missing == []


def test_every_package_is_in_the_table() -> None:
    packages = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists())
    assert packages, SRC
    for package in packages:
        assert f"| `{package}/` |" in DOC, f"{package}/ has no row in docs/architecture.md"


@pytest.mark.parametrize("package", PURE)
def test_the_pure_core_never_imports_a_shell(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for shell in SHELLS:
            if re.search(rf"^\s*(from|import)\s+(\.\.|terse\.){shell}\b", text, re.M):
                bad.append(f"{path.relative_to(SRC)} imports {shell}")
    assert bad == []
