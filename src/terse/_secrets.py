"""Keeping API keys out of everything terse shows: errors, reprs, pickles, logs, files.

A hostile or careless server can echo the key it was sent: a 401 saying "Incorrect API
key provided: sk-…", a proxy that reflects the request headers into its error page.
terse scrubs such text twice:

- **Where server text enters terse.** The clients build every `ServerError` (and the
  bodies of `ProtocolError`) through `scrub`, given the client's own secrets: its API key
  and the values of any ``Authorization``/``api-key``/``x-api-key`` header it sends.
- **Where anything leaves terse.** Every `TerseError`'s ``str``, ``repr`` and pickle,
  ``Attempt.to_dict()``, the ``"terse"`` logger, a batch job's errors file and the CLI's
  summary go through `scrub` again, as a defence for text that took another way in.

`scrub` replaces, with ``[redacted]``: every secret a client of this process registered
(`register`), the value after an ``Authorization``/``api-key``/``x-api-key``/``api_key``
name, ``Bearer …`` tokens, ``sk-…``-looking keys, and the password in a URL's
``user:password@``. The patterns are linear (no nested repetition), so scrubbing costs one
pass over the text. Secrets shorter than 8 characters (``"no-key"``) are not registered:
replacing them would mangle ordinary words while protecting nothing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "client_secrets", "register", "scrub", "scrub_value"]

REDACTED = "[redacted]"

_MIN_SECRET = 8

_known: set[str] = set()
_lock = threading.Lock()

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key"})

# A header or parameter that names a secret, then its value: `Authorization: Bearer x`,
# `"api-key": "x"`, `api_key=x`. The value runs to the next space, quote or separator.
_NAMED = re.compile(
    r"(?i)(\b(?:proxy-)?authorization|\bx-api-key|\bapi[-_]?key)"
    r"(\"?'?\s*[:=]\s*\"?'?)"
    r"(?!(?:(?:bearer|basic|token)\s+)?\[redacted\])"  # a known secret, already replaced
    r"((?:bearer|basic|token)\s+)?"
    r"([^\s\"',;&<>(){}\[\]\\]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}")
_SK = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
_USERINFO = re.compile(r"(://[^\s:/@]+:)[^\s/@]+@")


def register(*secrets: str | None) -> tuple[str, ...]:
    """Remember ``secrets`` for every later `scrub` in this process; returns those kept."""
    keep = tuple(s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET)
    if keep:
        with _lock:
            _known.update(keep)
    return keep


def client_secrets(client: Any) -> tuple[str, ...]:
    """An openai client's key and secret header values, registered (see `register`)."""
    found: list[str | None] = [getattr(client, "api_key", None)]
    for attr in ("_custom_headers", "default_headers"):
        try:
            headers = getattr(client, attr, None)
        except Exception:  # a property that needs more than we have: nothing to find there
            headers = None
        if isinstance(headers, Mapping):
            for name, value in headers.items():
                secret = isinstance(name, str) and name.lower() in _SECRET_HEADERS
                if secret and isinstance(value, str):
                    found.append(value)
                    found.append(value.split(None, 1)[-1])  # the token after "Bearer "
    return register(*found)


def _named(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{REDACTED}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret it holds replaced by ``[redacted]`` (see the module doc)."""
    if not text:
        return text
    with _lock:
        known = sorted({*_known, *(s for s in secrets if len(s) >= _MIN_SECRET)}, key=len)
    for secret in reversed(known):  # longest first, so a key never leaves a tail behind
        if secret in text:
            text = text.replace(secret, REDACTED)
    lower = text.lower()  # each pattern runs only when its anchor word is there at all
    if "authorization" in lower or "key" in lower:
        text = _NAMED.sub(_named, text)
    if "bearer" in lower:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    if "sk-" in text:
        text = _SK.sub(REDACTED, text)
    if "@" in text:
        text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return text


def scrub_value(value: Any) -> Any:
    """`scrub` applied to a str, or to the strs inside a list, tuple or dict (one level)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) if isinstance(v, str) else v for v in value)
    if isinstance(value, dict):
        return {k: scrub(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


class _ScrubFilter(logging.Filter):
    """Scrubs every record of the ``"terse"`` logger before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it for logging's own error report
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _install_filter() -> None:
    logger = logging.getLogger("terse")
    if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
        logger.addFilter(_ScrubFilter())


_install_filter()
