"""Think-delimiter formats, as data.

Every model family that writes its reasoning inline marks it with delimiters. This table
is the one place that knows them: the splitter, the stream splitter, extraction and the
fake server all read it. Adding a model family is adding a row.

Sources for each string: ``shared/reference/protocols.md`` §2 (model cards, chat
templates, and the reasoning parsers of vLLM, SGLang and llama.cpp).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["FORMATS", "ThinkFormat", "resolve_formats"]


@dataclass(frozen=True)
class ThinkFormat:
    """How one model family delimits its reasoning.

    Attributes:
        name: Short identifier, used in ``Splitter(formats=[...])``.
        opens: Strings that open the reasoning when the output starts with one of them.
        closes: Strings that end the reasoning; the earliest one found wins.
        close_only: Whether the output may hold only a closing delimiter, because the
            chat template pre-filled the opening one (DeepSeek-R1, QwQ, Qwen3-Thinking).
        word_delimiters: The delimiters are plain words that also occur in prose (the
            special-token-stripped harmony format, Granite). They are trusted only at the
            very start of the output, and a literal opening word later on proves nothing.
        stray_open: An opening tag followed by a space and one line of text that never
            closes is a stray tag, not thinking, and the line is the answer (Kimi K2 writes
            ``" <think> The temperature is 30°C."`` after tool results).
        ends: Tokens that end a message in this format (gpt-oss harmony's ``<|return|>``,
            ``<|end|>``, ``<|call|>``); dropped where they end the answer.
    """

    name: str
    opens: tuple[str, ...]
    closes: tuple[str, ...]
    close_only: bool = True
    word_delimiters: bool = False
    stray_open: bool = False
    ends: tuple[str, ...] = ()


_HARMONY_FINAL = "<|start|>assistant<|channel|>final<|message|>"

FORMATS: tuple[ThinkFormat, ...] = (
    # DeepSeek-R1 and distills, QwQ, Qwen3, GLM, Kimi K2, MiniMax-M2, Phi-4, OLMo, EXAONE, Nemotron.
    ThinkFormat("think", ("<think>",), ("</think>",), stray_open=True),
    ThinkFormat("thinking", ("<thinking>",), ("</thinking>",)),
    # gpt-oss harmony channels. The analysis message may lack its <|end|> (llama.cpp captures),
    # and tool preambles arrive on the commentary channel before the final one.
    ThinkFormat(
        "harmony",
        (
            "<|start|>assistant<|channel|>analysis<|message|>",
            "<|channel|>analysis<|message|>",
            "<|start|>assistant<|channel|>commentary",
            "<|channel|>commentary",
        ),
        ("<|end|>" + _HARMONY_FINAL, _HARMONY_FINAL, "<|channel|>final<|message|>"),
        ends=("<|return|>", "<|end|>", "<|call|>"),
    ),
    # Harmony whose special tokens were stripped by the provider: "analysis…assistantfinal…".
    ThinkFormat("harmony-stripped", ("analysis",), ("assistantfinal",), word_delimiters=True),
    ThinkFormat("magistral", ("[THINK]",), ("[/THINK]",)),
    ThinkFormat("kimi", ("◁think▷",), ("◁/think▷",)),
    ThinkFormat("kimi-k3", ("<|open|>think<|sep|>",), ("<|close|>think<|sep|>",)),
    ThinkFormat("seed", ("<seed:think>",), ("</seed:think>",)),
    ThinkFormat("minimax", ("<mm:think>",), ("</mm:think>",)),
    ThinkFormat("cohere", ("<|START_THINKING|>",), ("<|END_THINKING|>",)),
    ThinkFormat("apertus", ("<|inner_prefix|>",), ("<|inner_suffix|>",)),
    ThinkFormat("gemma", ("<|channel>thought",), ("<channel|>",), close_only=False),
    ThinkFormat(
        "granite",
        ("Here is my thought process:", "Here's my thought process:"),
        ("Here is my response:", "Here's my response:"),
        close_only=False,
        word_delimiters=True,
    ),
)

_BY_NAME = {f.name: f for f in FORMATS}


def resolve_formats(formats: Iterable[str | ThinkFormat] | None) -> tuple[ThinkFormat, ...]:
    """Turn names or `ThinkFormat` objects into a tuple of formats (all of them for ``None``)."""
    from .._exceptions import UsageError

    if formats is None:
        return FORMATS
    if isinstance(formats, (str, ThinkFormat)):
        formats = [formats]
    out: list[ThinkFormat] = []
    for f in formats:
        if isinstance(f, ThinkFormat):
            out.append(f)
        elif f in _BY_NAME:
            out.append(_BY_NAME[f])
        else:
            known = ", ".join(sorted(_BY_NAME))
            raise UsageError(f"unknown think format {f!r}; known formats: {known}")
    if not out:
        raise UsageError("formats must name at least one think format")
    return tuple(out)


def longest(strings: Sequence[str]) -> int:
    """Length of the longest string (0 for none)."""
    return max((len(s) for s in strings), default=0)
