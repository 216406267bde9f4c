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

Labels also read "Key: option" lines and, with no mark at all, an option *named* once in
plain prose (`stated_label`).

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


# Labels (Literal / Enum options) named in free prose: "The sentiment is neutral.", "I'd
# classify this as neutral.". An option is named as a whole phrase, case-insensitively, with
# spaces, "_" and "-" between its words interchangeable; a hyphen or letter next to it makes it
# part of another word ("non-toxic" does not name "toxic"). Options that are also everyday
# words of no label meaning (yes/no, true/false, single letters, numbers) are only read where
# the answer marks them.
_UNNAMEABLE = frozenset({"yes", "no", "true", "false", "null", "none", "n/a", "na", "ok", "okay"})
_SEPARATORS = re.compile(r"[\s_-]+")
# Words that negate or doubt what follows them in a sentence. Only used to *refuse* a
# reading (an error, never another answer), so a false alarm costs a re-ask, not a value.
_NEGATION = re.compile(
    r"(?i)(?<![\w'’])(?:not|no|never|neither|nor|cannot|without|hardly|barely|unlikely|doubt\w*"
    r"|rather\s+than|instead\s+of|as\s+opposed\s+to|far\s+from|anything\s+but|lack\w*"
    r"|\w+n[’']t|isnt|dont|doesnt|wasnt|arent|wont|cant)(?![\w'’])"
)
_NOT_NEGATION = re.compile(
    r"(?i)\b(?:not\s+only|not\s+just|not\s+merely|no\s+doubt|without\s+(?:a\s+)?doubt"
    r"|no\s+question)\b"
)
# Words that take back what was said before them: a mark followed by one of these and a
# different option is a correction, not an explanation.
_CORRECTION = re.compile(
    r"(?i)\b(?:actually|wait|correction|on\s+second\s+thought|on\s+reflection|scratch\s+that"
    r"|i\s+mean|rather|instead|changed?\s+my\s+(?:mind|answer)|revis\w+)\b"
)
_TURN = re.compile(r"(?i)\b(?:but|however|though|although|yet)\b")
_SENTENCE_END = re.compile(r"[.!?;\n]")
_KEYED = re.compile(
    r"(?m)^[ \t>*_#-]*(?:\*\*|__)?([A-Za-z][A-Za-z \t/_-]{0,40}?)(?:\*\*|__)?[ \t]*[:=]"
    r"[ \t]*(?=(\S[^\n]{0,160}))"
)
_NEAR = 300  # characters around a mention searched for negation, within its sentence
_MAX_MENTIONS = 64


def _norm(text: str) -> str:
    return _SEPARATORS.sub(" ", clean(text).casefold()).strip()


def _nameable(option: str) -> bool:
    letters = sum(c.isalpha() for c in option)
    return letters >= 2 and option not in _UNNAMEABLE


@dataclass(frozen=True)
class _Options:
    table: dict[str, str]  # normalised option -> the caller's label
    pattern: re.Pattern[str] | None  # nameable options as whole phrases, longest first


def _options(labels: Iterable[str]) -> _Options:
    table: dict[str, str] = {}
    for label in labels:
        table.setdefault(_norm(label), label)
    table.pop("", None)
    nameable = sorted((o for o in table if _nameable(o)), key=len, reverse=True)
    pattern = None
    if nameable:
        alts = "|".join(r"[\s_-]+".join(map(re.escape, o.split(" "))) for o in nameable)
        pattern = re.compile(rf"(?i)(?<![\w-])(?:{alts})(?![\w-])")
    return _Options(table, pattern)


def _sentence(answer: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the sentence around ``answer[start:end]`` (at most `_NEAR` chars each way)."""
    lo = max(0, start - _NEAR)
    before = [m.end() for m in _SENTENCE_END.finditer(answer, lo, start)]
    hi = min(len(answer), end + _NEAR)
    after = _SENTENCE_END.search(answer, end, hi)
    return (before[-1] if before else lo), (after.end() if after else hi)


def _negated(answer: str, start: int, end: int, after: bool) -> str | None:
    """The negating words near a mention: in its sentence before it (and after, if asked),
    or opening the next sentence ("Positive? Not really.")."""
    lo, hi = _sentence(answer, start, end)
    before = answer[lo:start]
    turns = list(_TURN.finditer(before))
    if turns:  # "not great, but positive": the negation is on the other side of "but"
        before = before[turns[-1].end() :]
    parts = [before] + ([answer[end:hi]] if after else [])
    following = answer[hi : hi + 40].lstrip(" \t\n*_\"'")
    parts.append(following[: len(following) - len(following.lstrip(".!?"))] or following[:12])
    for part in parts:
        kept = _NOT_NEGATION.sub(" ", part)
        if (m := _NEGATION.search(kept)) is not None:
            return m.group()
    return None


def _marked_label(span: str, opts: _Options, whole: bool) -> str | None:
    text = _norm(span)
    if whole:
        return opts.table.get(text)
    for option in sorted(opts.table, key=len, reverse=True):
        if text.startswith(option) and not text[len(option) : len(option) + 1].isalnum():
            rest = text[len(option) :]
            if opts.pattern is not None and opts.pattern.search(_SENTENCE_END.split(rest)[0]):
                return None  # "Answer: spam or ham" marks no single option
            return opts.table[option]
    return None


def _label_marks(answer: str, opts: _Options) -> list[tuple[str, str, int, str]]:
    """(label, evidence, offset, mark) for every place the answer marks an option."""
    marks: list[tuple[str, str, int, str]] = []
    boxes = boxed_contents(answer)
    if boxes and (label := _marked_label(boxes[-1], opts, whole=True)) is not None:
        marks.append((label, boxes[-1], answer.rfind(boxes[-1]), "boxed"))
    for m in list(_SAID.finditer(answer))[-_KEEP:]:
        if (label := _marked_label(m.group(1), opts, whole=False)) is not None:
            marks.append((label, m.group(), m.start(), "said"))
    for m in list(_KEYED.finditer(answer))[-_KEEP:]:
        value = m.group(2)
        if _norm(m.group(1)) not in opts.table and (
            (label := _marked_label(value, opts, whole=True)) is not None
        ):
            marks.append((label, m.group() + value, m.start(), "keyed"))
    if "\n" in answer.strip():
        line = _last_line(answer)
        if (label := _marked_label(line, opts, whole=True)) is not None:
            marks.append((label, line, len(answer.rstrip()) - len(line), "last"))
    for m in _bolds(answer):
        if (label := _marked_label(m.group(1) or m.group(2), opts, whole=True)) is not None:
            marks.append((label, m.group(), m.start(), "bold"))
    first = _FIRST.match(answer)
    if first and (label := _marked_label(first.group(1), opts, whole=True)) is not None:
        marks.append((label, first.group(), first.start(1), "first"))
    marks.sort(key=lambda x: x[2])
    return [m for m in marks if m[3] not in _IN_PROSE or _alone(answer, opts, m)]


_IN_PROSE = frozenset({"said", "bold", "first"})


def _alone(answer: str, opts: _Options, mark: tuple[str, str, int, str]) -> bool:
    """Whether a mark inside a sentence is the only option that sentence names un-negated.

    "Neutral, positive" lists two options; "Neutral — not positive or negative" marks one.
    """
    label, evidence, at, _ = mark
    if opts.pattern is None:
        return True
    lo, hi = _sentence(answer, at, at + len(evidence))
    for m in opts.pattern.finditer(answer, lo, hi):
        other = opts.table[_norm(m.group())]
        if other != label and _negated(answer, m.start(), m.end(), after=False) is None:
            return False
    return True


def _mentions(answer: str, opts: _Options) -> list[tuple[str, int, int]]:
    if opts.pattern is None:
        return []
    return [
        (opts.table[_norm(m.group())], m.start(), m.end()) for m in opts.pattern.finditer(answer)
    ]


def stated_label(answer: str, labels: Iterable[str]) -> Found | Missing:
    """The one option the answer states or names; Missing when none, several, or negated.

    Read in two steps, and never a guess between options:

    1. **Marked**: the whole answer, a ``\\boxed{}``, "Answer: …" / "the answer is …", a
       "Key: option" line ("Label: neutral", "Sentiment: Negative."), the last line alone,
       a bold option, a leading "Neutral." If marks exist they must all name the same
       option, none may be negated ("not **positive**"), and no other option may follow
       them after a correction ("Answer: positive. Actually, negative.").
    2. **Named**: with no mark, the answer must name exactly one option, as a whole phrase
       (the longest one: "very positive" is not also "positive"), with no negation or doubt
       in its sentence ("The sentiment is neutral." yes; "It is not positive." no).

    Example:
        >>> stated_label("The message is an ad.\\n\\n**Answer: spam**", ["spam", "ham"]).value
        'spam'
        >>> stated_label("I'd classify this as neutral.", ["positive", "neutral"]).value
        'neutral'
        >>> stated_label("Not positive, it's negative.", ["positive", "negative"]).reason
        'the answer names several options (positive, negative) and marks none as the answer'
    """
    opts = _options(labels)
    shown = ", ".join(list(opts.table.values())[:8])
    whole = opts.table.get(_norm(answer)) if len(answer) <= 200 else None
    if whole is not None:
        return Found(whole, answer, "whole")
    marks = _label_marks(answer, opts)
    if marks:
        distinct = list(dict.fromkeys(m[0] for m in marks))
        if len(distinct) > 1:
            return Missing(f"the answer marks several options ({', '.join(distinct[:5])})")
        label, evidence, _, mark = marks[-1]
        for _, ev, pos, _ in marks:
            if (word := _negated(answer, pos, pos + len(ev), after=False)) is not None:
                return Missing(f"the answer marks {label} but negates or doubts it ({word!r})")
        last = max(pos + len(ev) for _, ev, pos, _ in marks)
        for other, start, _ in _mentions(answer, opts):
            if other != label and start >= last and _CORRECTION.search(answer, last, start):
                return Missing(f"the answer marks {label}, then corrects it to {other}")
        return Found(label, evidence, mark)
    mentions = _mentions(answer, opts)
    if not mentions:
        return Missing(f"none of {shown} is stated as the answer")
    distinct = list(dict.fromkeys(m[0] for m in mentions))
    if len(distinct) > 1:
        names = ", ".join(distinct[:5])
        return Missing(f"the answer names several options ({names}) and marks none as the answer")
    if len(mentions) > _MAX_MENTIONS:
        return Missing(f"the answer names {distinct[0]} {len(mentions)} times; too many to read")
    label = distinct[0]
    for _, start, end in mentions:
        if (word := _negated(answer, start, end, after=True)) is not None:
            return Missing(f"the answer names {label} but negates or doubts it ({word!r})")
    lo, hi = _sentence(answer, mentions[-1][1], mentions[-1][2])
    return Found(label, answer[lo:hi].strip(), "named")


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
