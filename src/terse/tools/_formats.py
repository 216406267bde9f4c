"""Inline tool-call formats, as data: one row per family.

A model served without a tool parser writes its calls into the text. Each family marks
them its own way (``shared/reference/tools.md`` §3). This table is the one place that
knows the markers; the scanner (`terse.tools._scan`) finds the openers, and the row's
``body`` names the reader (`terse.tools._bodies`) that parses what follows.

Adding a family whose calls read like an existing body (JSON in tags, XML parameters,
invoke blocks, sections, pythonic lists) is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CALL_FORMATS", "CallFormat"]


@dataclass(frozen=True)
class CallFormat:
    """How one family writes inline tool calls.

    Attributes:
        name: Family name, reported as `ToolCall.format`.
        opens: Strings that start a block of calls.
        body: The reader for what follows the opener: ``"json"`` (a call object or a list
            of them), ``"xml_function"`` (``<function=N><parameter=k>v</parameter>``),
            ``"glm"`` (``N<arg_key>k</arg_key><arg_value>v</arg_value>``), ``"invoke"``
            (``<invoke name="N"><parameter name="k">v</parameter>``), ``"section"``
            (DeepSeek V3/V3.1 and Kimi K2 token sections), ``"mistral"``, ``"pythonic"``
            (``[f(a=1), g()]``), ``"python_tag"``, ``"gemma"``, ``"recipient"``
            (``NAME⏎{json}``), ``"bare_json"``.
        close: The string that ends the block ("" when it ends with its body).
        trim: For XML values: strip exactly one leading and one trailing newline (template
            markup), as Qwen3-Coder and MiniMax write them; Seed-OSS keeps values verbatim.
        needs_tools: The markup has no delimiter of its own (bare JSON, a bare pythonic list,
            a recipient line): read only when the tools are known and the name is one of them.
        at_start: The opener is the start of the answer itself (Functionary v3.2's prompt
            ends with ``>>>``, so the output starts with the recipient).
        prefix: Token prefix of the tags for ``invoke`` bodies (``"｜DSML｜"`` for DeepSeek V3.2).
        call_open, sep, call_close: Token strings of ``section`` bodies.
        header: How a ``section`` call names itself: ``"deepseek"`` or ``"kimi"``.
        fence: For ``json`` bodies: the JSON sits in a markdown fence (Command-R+ ``Action:``).
        bare: The opener is the inner call tag itself (``<function=`` without ``<tool_call>``;
            Kimi's ``<|tool_call_begin|>`` without a section).
    """

    name: str
    opens: tuple[str, ...]
    body: str
    close: str = ""
    trim: bool = True
    needs_tools: bool = False
    at_start: bool = False
    prefix: str = ""
    call_open: str = ""
    sep: str = ""
    call_close: str = ""
    header: str = ""
    fence: bool = False
    bare: bool = False


_DS = ("<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>")
_KIMI = ("<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>")

# Rows sharing an opener are tried in order; the first whose body reads wins.
CALL_FORMATS: tuple[CallFormat, ...] = (
    # Hermes, Qwen2.5, Qwen3, QwQ, Granite 3.1/4.x: <tool_call>{"name", "arguments"}</tool_call>.
    CallFormat("hermes", ("<tool_call>",), "json", close="</tool_call>"),
    # Qwen3-Coder, Qwen3.5/3.6, StepFun: <tool_call><function=N><parameter=k>v</parameter>…
    CallFormat("qwen3_xml", ("<tool_call>",), "xml_function", close="</tool_call>"),
    # GLM-4.5/4.6/4.7, Ling-3, Spark: <tool_call>N<arg_key>k</arg_key><arg_value>v</arg_value>…
    CallFormat("glm", ("<tool_call>",), "glm", close="</tool_call>"),
    # Qwen3-Coder without its opener, and Functionary v3.1 (<function=N>{json}</function>).
    CallFormat("qwen3_xml", ("<function=",), "xml_function", close="</tool_call>", bare=True),
    CallFormat(
        "seed_oss", ("<seed:tool_call>",), "xml_function", close="</seed:tool_call>", trim=False
    ),
    CallFormat("minimax_m2", ("<minimax:tool_call>",), "invoke", close="</minimax:tool_call>"),
    CallFormat(
        "deepseek_v32",
        ("<｜DSML｜function_calls>",),
        "invoke",
        close="</｜DSML｜function_calls>",
        prefix="｜DSML｜",
    ),
    CallFormat(
        "deepseek_v4",
        ("<｜DSML｜tool_calls>",),
        "invoke",
        close="</｜DSML｜tool_calls>",
        prefix="｜DSML｜",
    ),
    CallFormat(
        "deepseek_v3",
        ("<｜tool▁calls▁begin｜>",),
        "section",
        close="<｜tool▁calls▁end｜>",
        header="deepseek",
        call_open=_DS[0],
        sep=_DS[1],
        call_close=_DS[2],
    ),
    CallFormat(
        "kimi_k2",
        ("<|tool_calls_section_begin|>",),
        "section",
        close="<|tool_calls_section_end|>",
        header="kimi",
        call_open=_KIMI[0],
        sep=_KIMI[1],
        call_close=_KIMI[2],
    ),
    CallFormat(
        "kimi_k2",
        ("<|tool_call_begin|>",),
        "section",
        header="kimi",
        bare=True,
        call_open=_KIMI[0],
        sep=_KIMI[1],
        call_close=_KIMI[2],
    ),
    # Mistral: [TOOL_CALLS][{…}] (pre-v11) or [TOOL_CALLS]N[CALL_ID]id[ARGS]{…} (v11+).
    CallFormat("mistral", ("[TOOL_CALLS]",), "mistral"),
    CallFormat("granite", ("<|tool_call|>",), "json"),
    CallFormat("phi4_mini", ("functools",), "json"),
    CallFormat("command_r", ("<|START_ACTION|>",), "json", close="<|END_ACTION|>"),
    CallFormat("command_r_plus", ("Action:",), "json", fence=True),
    CallFormat("nemotron", ("<TOOLCALL>",), "json", close="</TOOLCALL>"),
    CallFormat("llama3", ("<|python_tag|>",), "python_tag", close="<|eom_id|>"),
    CallFormat("llama4_pythonic", ("<|python_start|>",), "pythonic", close="<|python_end|>"),
    CallFormat("lfm2", ("<|tool_call_start|>",), "pythonic", close="<|tool_call_end|>"),
    CallFormat("gemma4", ("<|tool_call>",), "gemma", close="<tool_call|>"),
    CallFormat("functionary_v32", (">>>",), "recipient", needs_tools=True),
    CallFormat("functionary_v32", ("",), "recipient", needs_tools=True, at_start=True),
    # No delimiter at all: read only for known tool names (vLLM llama3_json / pythonic).
    CallFormat("llama3", ("{",), "bare_json", needs_tools=True),
    CallFormat("pythonic", ("[",), "pythonic", needs_tools=True),
)
