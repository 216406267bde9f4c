"""Native thinking budgets: the request field each server honours, and how it refuses it.

A `NativeBudget` is one server's own knob for "stop thinking after N tokens": where the
number goes in the request body, which aliases and message field the server also reads,
and how its 400 says that the knob is not configured. A `Dialect` points to one (or to
none); the flow asks it for the request fields and whether an error is such a refusal,
and the fake server in `terse.testing` reads the same field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LLAMACPP_BUDGET", "NATIVE_BUDGETS", "SGLANG_BUDGET", "VLLM_BUDGET", "NativeBudget"]

# Words of a 400 that say the server has no native budget configured (vLLM without
# ``--reasoning-config``); any knob's error may name any of them.
_REFUSAL_WORDS = ("reasoning_config", "thinking_token_budget", "reasoning_budget")


@dataclass(frozen=True)
class NativeBudget:
    """One server's native thinking budget.

    Attributes:
        name: Identifier (``"llamacpp"``, ``"vllm"``, ``"sglang"``).
        path: Where the token count goes in the request body, as keys from the top.
        aliases: Other paths the server reads the same count from (the fake server honours
            them; terse sends ``path``).
        message_field: The field of a text the server inserts before its forced close, if any.
        refusal_words: Lower-case words of a 400 that refuses the knob as not configured.
    """

    name: str
    path: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...] = ()
    message_field: str | None = None
    refusal_words: tuple[str, ...] = _REFUSAL_WORDS

    def fields(self, tokens: int) -> dict[str, Any]:
        """Request fields that ask the server to stop thinking after ``tokens``."""
        value: Any = tokens
        for key in reversed(self.path):
            value = {key: value}
        out: dict[str, Any] = value
        return out

    def sent_in(self, body: Mapping[str, Any]) -> bool:
        """Whether ``body`` carries this knob (its top-level field)."""
        return self.path[0] in body

    def refused(self, status: int, message: str) -> bool:
        """Whether an error says the server has no such budget configured (a 400 naming it)."""
        lowered = message.lower()
        return status == 400 and any(w in lowered for w in self.refusal_words)

    def requested(self, body: Mapping[str, Any]) -> tuple[str, object] | None:
        """``(field name, value)`` of the first of ``path`` and ``aliases`` set in ``body``."""
        for path in (self.path, *self.aliases):
            node: object = body
            for key in path:
                if not isinstance(node, Mapping) or key not in node:
                    break
                node = node[key]
            else:
                return path[-1], node
        return None


LLAMACPP_BUDGET = NativeBudget(
    "llamacpp",
    ("reasoning_budget_tokens",),
    aliases=(("thinking_budget_tokens",),),
    message_field="reasoning_budget_message",
)
VLLM_BUDGET = NativeBudget("vllm", ("thinking_token_budget",))
SGLANG_BUDGET = NativeBudget("sglang", ("custom_params", "thinking_budget"))

NATIVE_BUDGETS: Mapping[str, NativeBudget] = {
    b.name: b for b in (LLAMACPP_BUDGET, VLLM_BUDGET, SGLANG_BUDGET)
}
"""Every known native budget by name."""
