"""Static checks of the call options (run by mypy --strict from tests/client/test_call_options.py).

Lines whose comment says wrong must be reported by mypy; every other line must pass.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

import terse


class City(BaseModel):
    city: str


def sync_client(client: terse.Client) -> None:
    assert_type(client.ask("q", temperature=0, max_retries=1), terse.Answer[str])
    assert_type(
        client.ask("q", response_model=City, deadline=5.0, extra_body={"top_k": 20}),
        terse.Answer[City],
    )
    assert_type(
        client.stream("q", thinking_budget=terse.Budget(tokens=10)), terse.AnswerStream[Any]
    )
    options: terse.CallOptions = {"max_retries": 0, "stop": ["\n"]}
    assert_type(client.ask("q", **options), terse.Answer[str])
    client.ask("q", max_retries="2")  # wrong: not an int
    client.ask("q", max_retrys=2)  # wrong: misspelt
    client.ask("q", deadline="soon")  # wrong: not seconds


async def async_client(client: terse.AsyncClient) -> None:
    assert_type(await client.ask("q", response_model=int, salvage=True), terse.Answer[int])
    assert_type(client.stream("q", repair_budget="off"), terse.AsyncAnswerStream[Any])
    await client.ask("q", partial=1.5)  # wrong: not a bool
