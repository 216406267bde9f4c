"""Inline tool-call markup, as the model families write it: one writer per family.

A server without a tool parser passes the model's call markup through in ``content``
(``shared/reference/tools.md`` §3). The fake writes it here, from `Call` scripts, so a
test sees exactly the text the family's model would emit. The names match
``terse.tools`` (`ToolCall.format`), but nothing here reads terse's parsers: the markup is
written from the references, so a parser bug cannot hide behind a writer with the same bug.

Families (``⏎`` is a newline):

=================  ===========================================================================
``hermes``         ``<tool_call>⏎{"name": N, "arguments": {…}}⏎</tool_call>`` per call
                   (Hermes, Qwen2.5/3, QwQ), joined by ``⏎``
``qwen3_xml``      ``<tool_call>⏎<function=N>⏎<parameter=k>⏎v⏎</parameter>⏎</function>⏎
                   </tool_call>`` (Qwen3-Coder, Qwen3.5/3.6)
``glm``            ``<tool_call>N⏎<arg_key>k</arg_key>⏎<arg_value>v</arg_value>⏎</tool_call>``
                   (GLM-4.5/4.6)
``minimax_m2``     ``<minimax:tool_call>⏎<invoke name="N">⏎<parameter name="k">v</parameter>⏎
                   </invoke>⏎</minimax:tool_call>``
``deepseek_v3``    ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N⏎```json⏎
                   {…}⏎```<｜tool▁call▁end｜><｜tool▁calls▁end｜>`` (V3, R1-0528)
``deepseek_v31``   ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>N<｜tool▁sep｜>{…}
                   <｜tool▁call▁end｜><｜tool▁calls▁end｜>``
``deepseek_v32``   DSML ``<｜DSML｜function_calls>`` with ``invoke``/``parameter string=``
``kimi_k2``        ``<|tool_calls_section_begin|><|tool_call_begin|>functions.N:i
                   <|tool_call_argument_begin|>{…}<|tool_call_end|><|tool_calls_section_end|>``
``mistral``        ``[TOOL_CALLS]N[ARGS]{…}`` per call (v11+ tokenizer)
``harmony``        ``<|start|>assistant<|channel|>commentary to=functions.N <|constrain|>json
                   <|message|>{…}<|call|>`` (gpt-oss)
=================  ===========================================================================

Arguments given as a string are written verbatim where the family writes JSON (that is how
a test makes a model write invalid arguments); XML families write such a string as the
function's raw body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .._exceptions import UsageError
from ._scripts import Call

__all__ = ["TOOL_FORMATS", "tool_markup"]

_DS_CALLS = ("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>")
_DS_CALL = ("<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>")


def _value(value: Any) -> str:
    """An XML parameter value: strings raw, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _hermes(call: Call) -> str:
    name = json.dumps(call.name, ensure_ascii=False)
    return f'<tool_call>\n{{"name": {name}, "arguments": {call.arguments_text}}}\n</tool_call>'


def _qwen3_xml(call: Call) -> str:
    if isinstance(call.arguments, str):
        body = f"{call.arguments}\n"
    else:
        body = "".join(
            f"<parameter={k}>\n{_value(v)}\n</parameter>\n" for k, v in call.arguments.items()
        )
    return f"<tool_call>\n<function={call.name}>\n{body}</function>\n</tool_call>"


def _glm(call: Call) -> str:
    if isinstance(call.arguments, str):
        return f"<tool_call>{call.name}\n{call.arguments}\n</tool_call>"
    pairs = "".join(
        f"<arg_key>{k}</arg_key>\n<arg_value>{_value(v)}</arg_value>\n"
        for k, v in call.arguments.items()
    )
    return f"<tool_call>{call.name}\n{pairs}</tool_call>"


def _invoke(call: Call, prefix: str = "", typed: bool = False) -> str:
    if isinstance(call.arguments, str):
        body = f"{call.arguments}\n"
    else:
        body = ""
        for k, v in call.arguments.items():
            kind = f' string="{"true" if isinstance(v, str) else "false"}"' if typed else ""
            body += f'<{prefix}parameter name="{k}"{kind}>{_value(v)}</{prefix}parameter>\n'
    return f'<{prefix}invoke name="{call.name}">\n{body}</{prefix}invoke>'


def _block(open_: str, close: str, each: Callable[[Call], str]) -> Callable[[Sequence[Call]], str]:
    def write(calls: Sequence[Call]) -> str:
        return open_ + "\n".join(each(c) for c in calls) + "\n" + close

    return write


def _deepseek_v3(call: Call) -> str:
    begin, sep, end = _DS_CALL
    return f"{begin}function{sep}{call.name}\n```json\n{call.arguments_text}\n```{end}"


def _deepseek_v31(call: Call) -> str:
    begin, sep, end = _DS_CALL
    return f"{begin}{call.name}{sep}{call.arguments_text}{end}"


def _section(each: Callable[[Call], str]) -> Callable[[Sequence[Call]], str]:
    def write(calls: Sequence[Call]) -> str:
        return _DS_CALLS[0] + "".join(each(c) for c in calls) + _DS_CALLS[1]

    return write


def _kimi(calls: Sequence[Call]) -> str:
    body = "".join(
        f"<|tool_call_begin|>functions.{c.name}:{i}<|tool_call_argument_begin|>"
        f"{c.arguments_text}<|tool_call_end|>"
        for i, c in enumerate(calls)
    )
    return f"<|tool_calls_section_begin|>{body}<|tool_calls_section_end|>"


def _mistral(calls: Sequence[Call]) -> str:
    return "".join(f"[TOOL_CALLS]{c.name}[ARGS]{c.arguments_text}" for c in calls)


def _harmony(calls: Sequence[Call]) -> str:
    return "".join(
        f"<|start|>assistant<|channel|>commentary to=functions.{c.name} <|constrain|>json"
        f"<|message|>{c.arguments_text}<|call|>"
        for c in calls
    )


def _each(write: Callable[[Call], str]) -> Callable[[Sequence[Call]], str]:
    return lambda calls: "\n".join(write(c) for c in calls)


TOOL_FORMATS: Mapping[str, Callable[[Sequence[Call]], str]] = MappingProxyType(
    {
        "hermes": _each(_hermes),
        "qwen3_xml": _each(_qwen3_xml),
        "glm": _each(_glm),
        "minimax_m2": _block("<minimax:tool_call>\n", "</minimax:tool_call>", _invoke),
        "deepseek_v3": _section(_deepseek_v3),
        "deepseek_v31": _section(_deepseek_v31),
        "deepseek_v32": _block(
            "<｜DSML｜function_calls>\n",
            "</｜DSML｜function_calls>",
            lambda c: _invoke(c, "｜DSML｜", typed=True),
        ),
        "kimi_k2": _kimi,
        "mistral": _mistral,
        "harmony": _harmony,
    }
)
"""Every family the fake writes inline calls in: name -> writer of a list of calls."""


def tool_markup(calls: Sequence[Call], family: str = "hermes") -> str:
    """The text ``family``'s model writes for ``calls``, exactly as a server passes it on.

    Useful to build reasoning with drafts in the middle of it, or to know what an inline
    reply holds::

        >>> tool_markup([Call("get_weather", {"city": "Paris"})])
        '<tool_call>\\n{"name": "get_weather", "arguments": {"city": "Paris"}}\\n</tool_call>'
    """
    write = TOOL_FORMATS.get(family)
    if write is None:
        raise UsageError(f"unknown tool-call family {family!r}; known: {', '.join(TOOL_FORMATS)}")
    return write(calls) if calls else ""
