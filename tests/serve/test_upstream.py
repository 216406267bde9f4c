"""The proxy's aiohttp transport takes from the environment what openai's client takes.

Its reading (deadlines, limits, errors) is checked with every other transport in
`tests/hostile`; here: HTTP(S)_PROXY and the TLS trust store.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

import terse
from terse.serve._upstream import AiohttpTransport, tls_context

from ..hostile.conftest import Hostile, answer_script


@pytest.fixture
def server() -> Iterator[Hostile]:
    srv = Hostile()
    yield srv
    srv.close()


async def test_http_proxy_from_the_environment_is_used(
    server: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The raw server plays an HTTP proxy: a request through it names the whole URL.
    server.script = answer_script("42", reasoning="Six sevens.")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with terse.AsyncClient(
        base_url="http://upstream.invalid/v1", model="m", dialect="vllm", api_key="k"
    ) as client:
        lean = AiohttpTransport(
            client.base_url, api_key="k", limits=terse.Limits(), idle_timeout=30
        )
        client._transport = lean
        try:
            answer = await client.ask("q", max_retries=0)
        finally:
            await lean.aclose()
    assert (answer.text, answer.reasoning) == ("42", "Six sevens.")
    paths = [r.path for r in server.requests]
    assert "http://upstream.invalid/v1/chat/completions" in paths


def test_tls_is_verified_against_the_trust_store_openai_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    # SSL_CERT_FILE replaces the store, as for openai's client: one CA in, one CA trusted.
    bundle = Path(certifi.where()).read_text()
    first = bundle[bundle.index("-----BEGIN CERTIFICATE-----") :]
    first = first[: first.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    pem = tmp_path / "one-ca.pem"
    pem.write_text(first + "\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    assert len(tls_context().get_ca_certs()) == 1
