"""Every Python code block in README.md and docs/ runs, in order, as a reader would paste it.

Each page's ```` ```python ```` blocks run one after the other in one fresh namespace (so a
later block may use what an earlier one defined). Pages that need a server start a
`terse.testing.FakeServer` themselves, in a visible block. A block is skipped only when its
fence says ```` ```python skip ```` or the line before it is ``<!-- no-test -->``; both are
used sparingly, for code that needs something a test cannot have (a real GPU server).
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from terse.testing import FakeServer

try:  # the serve extra: the proxy's pages start a `terse.serve.Server`
    from terse.serve import Server as ProxyServer
except ImportError:  # pragma: no cover - without the extra
    ProxyServer = None  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\w*)([^\n]*)$")
NO_TEST = "<!-- no-test -->"


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its language and info, its code."""

    line: int
    lang: str
    info: str
    code: str
    skipped: bool


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text (fences at the start of a line only)."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        start, lang, info = i, match.group(1), match.group(2).strip()
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        skipped = info == "skip" or before == NO_TEST
        found.append(Block(start + 1, lang, info, "\n".join(body) + "\n", skipped))
        i += 1
    return found


def test_the_block_finder_reads_fences_info_and_markers() -> None:
    text = (
        "intro\n```python\nx = 1\n```\n<!-- no-test -->\n\n```python\ny = 2\n```\n"
        "```python skip\nz = 3\n```\n```bash\nls\n```\n"
    )
    found = blocks(text)
    assert [(b.lang, b.code, b.skipped) for b in found] == [
        ("python", "x = 1\n", False),
        ("python", "y = 2\n", True),
        ("python", "z = 3\n", True),
        ("bash", "ls\n", False),
    ]
    assert found[0].line == 2


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_python_block_of_the_page_runs(page: Path) -> None:
    runnable = [b for b in blocks(page.read_text()) if b.lang == "python" and not b.skipped]
    namespace: dict[str, object] = {"__name__": "__docs__"}
    try:
        for block in runnable:
            where = f"{_page_id(page)}:{block.line}"
            code = compile(block.code, where, "exec", dont_inherit=True)  # no __future__ here
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)
    finally:  # a page that failed half-way may have left its proxy or simulator running
        values = list(namespace.values())
        for value in values:
            if ProxyServer is not None and isinstance(value, ProxyServer):
                with contextlib.suppress(RuntimeError):  # one that never started
                    value.close()
        for value in values:
            if isinstance(value, FakeServer):
                value.close()


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_blocks_are_skipped_sparingly(page: Path) -> None:
    python = [b for b in blocks(page.read_text()) if b.lang == "python"]
    assert sum(b.skipped for b in python) <= 1, "more than one skipped block on a page"


def test_every_docs_page_is_in_the_site_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert str(page.relative_to(ROOT / "docs")) in config, f"{page.name} is not in nav"


def test_readme_keeps_the_commands_ci_extracts() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        at = lines.index(marker)
        assert lines[at + 1] == "```bash"
        assert lines[at + 2].startswith("python3 -m venv .venv && ")
        assert lines[at + 3] == "```"
    main = lines[lines.index("<!-- main-command -->") + 2]
    assert main == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/terse demo"
