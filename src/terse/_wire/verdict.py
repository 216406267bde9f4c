"""The verdict on one response: an answer, or the `TerseError` that says why there is none.

`classify` looks at the finished reasoning and answer text, whether the thinking closed and
the finish reason; `server_error` turns an HTTP error body (or an SSE error event) into a
`ServerError` or `RateLimited` carrying the server's own message, scrubbed of secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from .._exceptions import (
    AnswerTruncated,
    NoAnswer,
    RateLimited,
    ServerError,
    TerseError,
    ThinkingTruncated,
)
from .._secrets import scrub

__all__ = ["classify", "server_error"]


def server_error(
    status: int, body: str, retry_after: float | None = None, secrets: Iterable[str] = ()
) -> ServerError:
    """A `ServerError` (or `RateLimited`) carrying the server's own message.

    ``secrets`` (the client's key and secret header values) are scrubbed from the body
    before anything is taken from it: a server may echo the key it was sent.
    """
    body = scrub(body, secrets)
    message = body.strip()[:300] or f"HTTP {status}"
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, Mapping):
        err = obj.get("error", obj)
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            message = err["message"]
        elif isinstance(err, str):
            message = err
        elif isinstance(obj.get("message"), str):
            message = obj["message"]
    if status == 429:
        return RateLimited(status, message, body, retry_after=retry_after)
    return ServerError(status, message, body)


def classify(
    text: str,
    reasoning: str,
    closed: bool,
    finish: str | None,
    answer_only: bool,
    untagged: bool = False,
) -> TerseError | None:
    if not closed and not answer_only:
        if finish == "stop":
            # The model ended its turn inside an unclosed think block: the same output a
            # reasoning parser files as reasoning with no content (NoAnswer, below).
            return NoAnswer(
                "the model stopped (stop) inside its reasoning, without closing it or answering",
                text=text,
                reasoning=reasoning,
                finish_reason=finish,
            )
        if finish == "length":
            msg = "the output was cut by the token limit while the model was still thinking"
        else:
            msg = "the output ended while the model was still thinking (no closing tag)"
        return ThinkingTruncated(msg, text=text, reasoning=reasoning, finish_reason=finish)
    if finish == "length":
        if not text:
            return ThinkingTruncated(
                "the token limit was reached before any answer was written",
                reasoning=reasoning,
                finish_reason=finish,
            )
        hint = (
            " (if this text is reasoning that the chat template opened, without a think tag,"
            " pass thinking_open=True)"
            if untagged
            else ""
        )
        return AnswerTruncated(
            "the answer was cut by the token limit (finish_reason=length); raise max_tokens" + hint,
            text=text,
            reasoning=reasoning,
            finish_reason=finish,
        )
    if not text:
        why = "tool calls" if finish == "tool_calls" else "no answer text"
        return NoAnswer(
            f"the model stopped ({finish or 'no finish reason'}) with {why} after its reasoning",
            reasoning=reasoning,
            finish_reason=finish,
        )
    return None
