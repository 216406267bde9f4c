"""Reading the value an answer *states* in prose: numbers, yes/no, labels, choice letters.

A sentence with several numbers has no single answer unless one is *marked* as the answer.
These are the marks, strongest first (`stated_spans`):

=====  ============================================================================
whole  the whole answer is the value (``42``, ``**Yes.**``, ``ham``)
boxed  the last ``\\boxed{…}``
said   "the answer is …", "Answer: …", "Final answer: …", "the correct option is …"
last   the last line, alone (``...\\n\\n**4242**``)
equals a closing ``= 42`` ending the answer (numbers only)
bold   ``**…**`` (for numbers: only when no other number follows on its line)
first  a leading ``Yes,`` / ``No.`` / ``Ham.`` (yes/no and labels only)
=====  ============================================================================

Every function returns a `Found` (the value and the text that stated it) or a `Missing`
that says why nothing was taken; none of them guesses between candidates.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "Found",
    "Missing",
    "boxed_contents",
    "last_boxed",
    "stated_bool",
    "stated_choice",
    "stated_label",
    "stated_number",
    "stated_spans",
]

_BOXED = re.compile(r"\\boxed\s*\{")
_BRACE = re.compile(r"\\.|[{}]", re.S)
# The stated text is captured by a lookahead, so "the answer is 5. No, the answer is 6" yields
# both statements rather than one swallowing the other.
_SAID = re.compile(
    r"(?i)\b(?:final\s+|correct\s+|right\s+)?(?:answer|result|solution|option|choice)s?\b"
    r"[*_ \t]{0,6}(?:is|was|would\s+be|will\s+be|[:=])[*_ \t:]{0,6}(?=([^\n]{0,200}))"
)
_BOLD = re.compile(r"\*\*([^*\n]{1,80})\*\*|__([^_\n]{1,80})__")
_FIRST = re.compile(
    r"[ \t]*(?:\*\*|__)?([^\W\d][\w \t'-]{0,40}?)(?:\*\*|__)?(?:[.,;:!]|[ \t]*(?:\n|\Z)|\s+[-—–])"
)
_MARKUP = re.compile(
    r"\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{([^{}\n]*)\}|</?answer>|\\[()[\]]|\*\*|__|[`$]"
)
_EDGES = " \t\r\n.,;:!*_"
# A number as a word: thousands with "," or a thin/no-break space, decimals, exponent. Not
# part of a longer token ("Qwen3", "2.1M", "3rd").
_NUM = re.compile(
    r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?:[\u00a0\u202f\u2009]\d{3})+(?!\d)|\d+)"
    r"(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\.?\w)"
)
_SPACED = re.compile(r"[-−]?\d{1,3}(?: \d{3})+(?:\.\d+)?")  # "1 234": only as a whole value
_EQUALS = re.compile(r"=(?:\*\*|__|\$|\\\(|[ \t])*(" + _NUM.pattern + r")[^\w\n]*\Z")
_YES_NO = {"yes": True, "true": True, "no": False, "false": False}
_KEEP = 64  # statements of one kind read, counted from the end


@dataclass(frozen=True)
class Found:
    """A value the answer states; ``evidence`` is the text that states it, ``mark`` how."""

    value: str
    evidence: str
    mark: str


@dataclass(frozen=True)
class Missing:
    """Why no value was taken (none stated, or several conflicting ones)."""

    reason: str


def _boxed(text: str) -> tuple[list[str], bool]:
    """Contents of complete ``\\boxed{…}`` in order, and whether an unclosed one ended the text."""
    out: list[str] = []
    pos = 0
    while (m := _BOXED.search(text, pos)) is not None:
        depth = 1
        for b in _BRACE.finditer(text, m.end()):
            tok = b.group()
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[m.end() : b.start()])
                    pos = b.end()
                    break
        else:
            return out, True
    return out, False


def boxed_contents(text: str) -> list[str]:
    """The contents of every complete ``\\boxed{…}`` in order, nested braces kept.

    A ``\\boxed`` inside another one belongs to the outer; an unclosed one ends the search.

    Example:
        >>> boxed_contents(r"so $\\boxed{\\frac{1}{2}}$, not \\boxed{3")
        ['\\\\frac{1}{2}']
    """
    return _boxed(text)[0]


def last_boxed(text: str) -> str | None:
    """The last ``\\boxed{…}``'s content; None if there is none or the last one is unclosed."""
    found, cut = _boxed(text)
    return found[-1] if found and not cut else None


def clean(text: str) -> str:
    """Drop markup around a stated value: bold, code, ``$``, ``\\text{}``, ``<answer>`` tags."""
    return _MARKUP.sub(lambda m: m.group(1) or "", text).strip(_EDGES)


def _last_line(answer: str) -> str:
    stripped = answer.rstrip()
    return stripped[stripped.rfind("\n") + 1 :]


def _bolds(answer: str) -> list[re.Match[str]]:
    return list(_BOLD.finditer(answer))[-_KEEP:]


def stated_spans(answer: str) -> list[tuple[str, list[str]]]:
    """The places where ``answer`` states its answer, strongest mark first (module docstring).

    Only the last 64 statements of each kind are read: an answer that states its answer
    more often than that is not going to be made unambiguous by the earlier ones.
    """
    said = list(_SAID.finditer(answer))[-_KEEP:]
    return [
        ("whole", [answer] if len(answer) <= 200 else []),
        ("boxed", boxed_contents(answer)[-1:]),
        ("said", [m.group(1) for m in said]),
        ("last", [_last_line(answer)] if "\n" in answer.strip() else []),
        ("bold", [m.group(1) or m.group(2) for m in _bolds(answer)]),
    ]


# --- numbers --------------------------------------------------------------------------------


def _number(token: str) -> str:
    for sep in ",\u00a0\u202f\u2009 ":
        token = token.replace(sep, "")
    return token.replace("−", "-")


def _whole_number(span: str) -> str | None:
    text = clean(span)
    m = _NUM.fullmatch(text) or _SPACED.fullmatch(text)
    return _number(m.group()) if m else None


def _leading_number(span: str) -> str | None:
    text = clean(span)
    m = _SPACED.fullmatch(text) or _NUM.match(text)
    return _number(m.group()) if m else None


def _bold_numbers(answer: str, starts: list[int]) -> list[tuple[str, str]]:
    """(value, evidence) of bold numbers with no other number after them on their line.

    "Add **2** and **2** to get 4" uses bold for emphasis, not to mark the answer.
    ``starts`` are the offsets of every number in ``answer``, in order.
    """
    out: list[tuple[str, str]] = []
    for m in _bolds(answer):
        value = _whole_number(m.group(1) or m.group(2))
        if value is None:
            continue
        i = bisect_left(starts, m.end())
        if i == len(starts) or "\n" in answer[m.end() : starts[i]]:
            out.append((value, m.group()))
    return out


def _one(values: list[str], evidence: list[str], mark: str) -> Found | Missing:
    distinct = dict.fromkeys(values)
    if len(distinct) == 1:
        return Found(values[-1], evidence[-1], mark)
    return Missing(f"the answer states several values ({', '.join(list(distinct)[:5])})")


def stated_number(answer: str) -> Found | Missing:
    """The number ``answer`` states as its answer, as a plain numeric string.

    Example:
        >>> stated_number("4200 + 40 = 4240, so the answer is **4,242**.").value
        '4242'
        >>> stated_number("Between 3 and 5 apples, in 2024.").reason
        'several numbers (3, 5, 2024) and none is marked as the answer'
    """
    numbers = [(m.start(), m.group()) for m in _NUM.finditer(answer)]
    for mark, spans in stated_spans(answer):
        if mark == "bold":
            found = _bold_numbers(answer, [i for i, _ in numbers])
        else:
            pick = _leading_number if mark == "said" else _whole_number
            found = [(v, s) for s in spans if (v := pick(s)) is not None]
        if found:
            return _one([v for v, _ in found], [s for _, s in found], mark)
        if mark == "last" and (eq := _EQUALS.search(_last_line(answer))):
            return Found(_number(eq.group(1)), eq.group(), "equals")
    if len(numbers) == 1:
        return Found(_number(numbers[0][1]), numbers[0][1], "only")
    if not numbers:
        return Missing("no number in the answer")
    shown = ", ".join(n for _, n in numbers[:5]) + (", …" if len(numbers) > 5 else "")
    return Missing(f"several numbers ({shown}) and none is marked as the answer")


# --- yes/no and labels ----------------------------------------------------------------------


def _labels_at(span: str, labels: Mapping[str, str], whole: bool) -> str | None:
    text = clean(span).casefold()
    if whole:
        return labels.get(text)
    for label in sorted(labels, key=len, reverse=True):
        if text.startswith(label) and not text[len(label) : len(label) + 1].isalnum():
            return labels[label]
    return None


def _stated_word(answer: str, labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Every (label, evidence, mark) where a label is stated; labels keyed casefolded."""
    hits: list[tuple[str, str, str]] = []
    for mark, spans in stated_spans(answer):
        for span in spans:
            label = _labels_at(span, labels, whole=mark != "said")
            if label is not None:
                hits.append((label, span, mark))
    first = _FIRST.match(answer)
    if first and (label := _labels_at(first.group(1), labels, whole=True)) is not None:
        hits.append((label, first.group(), "first"))
    return hits


def stated_label(answer: str, labels: Iterable[str]) -> Found | Missing:
    """The one label (case-insensitive) the answer states; Missing if none or several.

    Example:
        >>> stated_label("The message is an ad.\\n\\n**Answer: spam**", ["spam", "ham"]).value
        'spam'
    """
    table = {label.casefold(): label for label in labels}
    hits = _stated_word(answer, table)
    if not hits:
        return Missing(f"none of {', '.join(list(table.values())[:8])} is stated as the answer")
    return _one([h[0] for h in hits], [h[1] for h in hits], hits[-1][2])


def stated_bool(answer: str) -> Found | Missing:
    """``"true"``/``"false"`` when the answer states exactly one of yes/true or no/false.

    Example:
        >>> stated_bool("Yes, a banana is botanically a berry.").value
        'true'
    """
    hits = _stated_word(answer, {w: w for w in _YES_NO})
    polarity = {_YES_NO[h[0]] for h in hits}
    if len(polarity) != 1:
        why = "both yes and no" if polarity else "neither yes nor no"
        return Missing(f"the answer states {why}")
    return Found("true" if polarity.pop() else "false", hits[-1][1], hits[-1][2])


# --- multiple choice ------------------------------------------------------------------------


def _letter_pattern(letters: str) -> re.Pattern[str]:
    cls = "".join(re.escape(c) for c in letters)
    return re.compile(
        rf"(?:(?:option|choice|letter)\s+)?(?:\(([{cls}])\)|\[([{cls}])\]"
        rf"|([{cls}])(?=$|[.,;:)!\]]|\s+[-—–(]|\s*\n))"
    )


def _normal(text: str) -> str:
    return " ".join(clean(text).casefold().split())


def stated_choice(answer: str, options: str | Iterable[str] | Mapping[str, str]) -> str | None:
    """The option letter the answer states, or None when absent or ambiguous.

    ``options`` is a string of letters, a sequence of letters, or a mapping of letter to
    option text (then an answer that repeats one option's text exactly also counts).
    """
    letters = "".join(options) if not isinstance(options, Mapping) else "".join(options.keys())
    if not letters:
        return None
    pattern = _letter_pattern(letters)
    paren = re.compile(rf"\(([{''.join(re.escape(c) for c in letters)}])\)")
    spans = stated_spans(answer)
    head = answer.strip()
    spans[0] = ("whole", [head[: head.find("\n")] if "\n" in head else head])
    for mark, texts in [*spans, ("paren", [])]:
        if mark == "paren":
            found = [m.group(1) for m in paren.finditer(answer)]
        else:
            found = []
            for t in texts:
                body = clean(t)
                m = (
                    pattern.fullmatch(body)
                    if mark in ("bold", "boxed", "last")
                    else pattern.match(body)
                )
                if m:
                    found.append(next(g for g in m.groups() if g))
        if found:
            return found[0] if len(set(found)) == 1 else None
    if isinstance(options, Mapping):
        wanted = {_normal(v): k for k, v in options.items()}
        said = [answer, _last_line(answer)] + [t for _, ts in spans[1:3] for t in ts]
        hits = {wanted[n] for t in said if (n := _normal(t)) in wanted}
        if len(hits) == 1:
            return hits.pop()
    return None
