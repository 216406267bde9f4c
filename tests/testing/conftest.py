"""Helpers for the FakeServer tests: real openai clients with short deadlines."""

from __future__ import annotations

from typing import Any

import openai

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
TIMEOUT = 5.0
USER = [{"role": "user", "content": "What is the capital of France?"}]


def client(base_url: str, **kwargs: Any) -> openai.OpenAI:
    """A sync openai client that never retries and never waits long."""
    kwargs.setdefault("timeout", TIMEOUT)
    return openai.OpenAI(base_url=base_url, api_key="sk-test-secret", max_retries=0, **kwargs)


def aclient(base_url: str, **kwargs: Any) -> openai.AsyncOpenAI:
    """An async openai client that never retries and never waits long."""
    kwargs.setdefault("timeout", TIMEOUT)
    return openai.AsyncOpenAI(base_url=base_url, api_key="sk-test-secret", max_retries=0, **kwargs)
