"""The call options are declared once (`terse.CallOptions`) and every layer reads that."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import terse
from terse._client.base import CALL_DEFAULTS
from terse._core.options import CREATE_PARAMS, REQUEST_OPTIONS, TerseOptions


def test_every_terse_option_has_a_default() -> None:
    assert list(CALL_DEFAULTS) == list(TerseOptions.__annotations__)


def test_call_options_name_every_create_parameter_of_the_installed_openai() -> None:
    from openai.resources.chat.completions import Completions

    names = {
        n
        for n, p in inspect.signature(Completions.create).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    declared = set(terse.CallOptions.__annotations__)
    assert names - {"messages"} <= declared, names - {"messages"} - declared
    assert declared >= CREATE_PARAMS | REQUEST_OPTIONS


@pytest.mark.parametrize("cls", [terse.Client, terse.AsyncClient])
def test_ask_and_stream_take_the_declared_options(cls: type) -> None:
    for method in ("ask", "stream"):
        params = inspect.signature(getattr(cls, method)).parameters
        assert list(params) == ["self", "prompt", "response_model", "options"]
        assert params["options"].kind is inspect.Parameter.VAR_KEYWORD
        assert "Unpack[CallOptions]" in str(params["options"].annotation)


def test_a_type_checker_sees_each_option() -> None:
    """mypy passes the right options and reports every line marked ``# wrong:``."""
    pytest.importorskip("mypy")
    target = Path(__file__).parents[1] / "typing" / "check_options.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = target.read_text().splitlines()
    wrong = {i + 1 for i, line in enumerate(lines) if "# wrong:" in line}
    reported = {
        int(line.split(":")[1])
        for line in result.stdout.splitlines()
        if line.split(":")[0].endswith("check_options.py") and ": error:" in line
    }
    assert reported == wrong, result.stdout


def test_one_max_retries_check_for_clients_calls_and_batches(tmp_path: Path) -> None:
    message = "max_retries must be an int >= 0, not -1"
    with pytest.raises(terse.UsageError, match=message):
        terse.Client(base_url="http://127.0.0.1:9/v1", max_retries=-1)
    client = terse.Client(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(terse.UsageError, match=message):
        client.ask("q", max_retries=-1)
    with pytest.raises(terse.UsageError, match=message):
        terse.run_batch(
            [{"id": "1", "q": "x"}],
            client=client,
            prompt="{q}",
            response_model=str,
            out=tmp_path / "o.jsonl",
            max_retries=-1,
        )
