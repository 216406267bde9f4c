"""The fake llama-server's chat template: ChatML whose generation prompt opens ``<think>``.

It mirrors ``chatml-r1-style.jinja`` (DeepSeek-R1 style) from the real llama-server setup:
past assistant turns keep only the text after their last ``</think>``, and the
generation prompt ends ``<|im_start|>assistant\\n<think>\\n``. With
``enable_thinking=false`` the generation prompt holds an empty, closed think block, as
Qwen3's template does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._plan import message_text

__all__ = ["CHAT_TEMPLATE", "apply_template"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'assistant' -%}\n"
    "{%- set content = message['content'] -%}\n"
    "{%- if content is string and '</think>' in content -%}"
    "{%- set content = content.split('</think>')[-1] -%}{%- endif -%}\n"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}\n"
    "{%- else -%}\n"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n' -}}{%- endif -%}\n"
)
"""The template text ``GET /props`` reports."""


def apply_template(
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
    enable_thinking: bool = True,
) -> str:
    """Render ``messages`` as the fake's template does (``POST /apply-template``)."""
    parts = []
    for m in messages:
        role = str(m.get("role", "user"))
        content = message_text(m.get("content"))
        if role == "assistant":
            content = content.split("</think>")[-1]
        parts.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    if add_generation_prompt:
        parts.append(
            "<|im_start|>assistant\n"
            + ("<think>\n" if enable_thinking else "<think>\n\n</think>\n\n")
        )
    return "".join(parts)
