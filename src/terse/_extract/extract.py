"""Typed values from a model's final answer, never from its reasoning.

`extract` splits the output (`terse._wire.split`), then searches **only the answer**:

1. A ``str`` target is the whole answer.
2. If the answer ends inside an unfinished JSON value, it was cut: an error, unless
   ``partial=True`` asks for the value to be completed (jiter's partial mode).
3. JSON candidates (`terse._extract.jsonscan`): the whole answer, fenced blocks, balanced values in
   the prose. Each is tried raw, then repaired; of those that validate, the **last** in the
   answer wins, because a model that corrects itself ends with the correction.
4. For scalar targets (numbers, ``bool``, ``Literal``, ``Enum``), the value the prose
   *states* (`terse._extract.prose`): "the answer is **42**", a bare "ham", "Yes, …". Several
   unmarked numbers, or both yes and no, are an error, never a guess.

An output with no answer (thinking never ended, or nothing after it) is an error even when
the reasoning holds a valid value: reasoning models draft schema-valid JSON while thinking.
``salvage=True`` opts in to searching the reasoning in that case only, and says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar, overload

import jiter
from pydantic import TypeAdapter, ValidationError

from .._exceptions import ExtractionError, UsageError, WrongType
from .._wire.split import Split, split
from . import prose as _prose
from .jsonscan import Candidate, repair, scan
from .targets import Target, brief, target_for

__all__ = ["Extracted", "extract", "extract_boxed", "extract_choice", "extract_details"]

T = TypeVar("T")
logger = logging.getLogger("terse")

MAX_ANSWER_CHARS = 1 << 20
"""Longest answer searched (1 MiB); longer ones are an error rather than a slow search."""


@dataclass(frozen=True)
class Extracted(Generic[T]):
    """A value taken from a model output, with where and how it was found.

    Attributes:
        value: The validated value.
        source: ``"answer"``, or ``"reasoning"`` when ``salvage=True`` had to search the
            reasoning because the output had no answer.
        candidate: The text the value came from, as it appears in the output.
        kind: How it was found: ``"whole"`` (the whole answer), ``"fence"`` (a fenced block),
            ``"json"`` (a JSON value in prose), ``"scalar"`` (a value stated in prose),
            ``"boxed"`` (a ``\\boxed{}``), ``"field"`` (the one field of a JSON object,
            ``{"label": "neutral"}``, for a scalar target).
        repairs: Repairs applied to the candidate (``"trailing_commas"``, ``"partial"``, …).
        alternatives: Other, different values that also validated in the same text, in
            answer order (the value taken is the last valid candidate). Empty when the
            answer holds one value; candidates introduced as examples or templates are
            never counted. ``strict=True`` refuses such answers instead.
    """

    value: T
    source: Literal["answer", "reasoning"]
    candidate: str
    kind: str
    repairs: tuple[str, ...] = ()
    alternatives: tuple[Any, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Whether the answer held other valid values besides the one taken."""
        return bool(self.alternatives)


# --- trying candidates ----------------------------------------------------------------------


def _is_json_error(e: ValidationError) -> bool:
    return any(err["type"] == "json_invalid" for err in e.errors(include_url=False)[:1])


@dataclass(frozen=True)
class _Hit:
    value: Any
    candidate: str
    kind: str
    repairs: tuple[str, ...]
    alternatives: tuple[Any, ...] = ()


def _try(adapter: TypeAdapter[Any], text: str) -> tuple[Any, tuple[str, ...]] | str:
    """Validate one candidate raw, then repaired; the value and repairs, or why it failed."""
    try:
        return adapter.validate_json(text), ()
    except ValidationError as e:
        if not _is_json_error(e):
            return brief(e)
    fixed = repair(text)
    if fixed.status == "invalid":
        return f"not JSON: {fixed.problem}"
    if fixed.status == "truncated":
        return "an unfinished JSON value"
    try:
        return adapter.validate_json(fixed.text), fixed.repairs
    except ValidationError as e:
        return f"after repairs ({', '.join(fixed.repairs) or 'none'}): {brief(e)}"


def _partial(adapter: TypeAdapter[Any], cut: Candidate) -> _Hit | str:
    fixed = repair(cut.text)
    try:
        data = jiter.from_json(fixed.text.encode(), partial_mode="trailing-strings")
        value = adapter.validate_python(data)
    except ValueError as e:  # ValidationError is a ValueError too
        return brief(e) if isinstance(e, ValidationError) else f"cannot complete it: {e}"
    return _Hit(value, cut.text, cut.kind, (*fixed.repairs, "partial"))


class _NotFound(Exception):
    def __init__(self, message: str, candidates: Sequence[str], errors: Sequence[str]) -> None:
        super().__init__(message)
        self.candidates = candidates
        self.errors = errors


# Lines (or the text before a value on its line) that introduce an example, a template or a
# format rather than the answer: "Example of the format:", "For example:", "e.g.",
# "Template:", "The schema is:". "Here's an example user profile:" is not one of them.
_INTRO = re.compile(
    r"(?ix)^(?:"
    r"(?:here\s+is\s+|here'?s\s+|this\s+is\s+)?(?:an?\s+|another\s+|the\s+)?(?:example|sample)"
    r"(?:\s+(?:of\s+(?:the\s+|a\s+|an\s+)?)?(?:[\w-]+\s+){0,2}?(?:format|output|response|answer|json|schema"
    r"|structure|input|usage|object))?"
    r"|(?:template|schema|format)"
    r"|(?:the\s+)?(?:expected\s+|required\s+|output\s+|response\s+|json\s+|answer\s+)?"
    r"(?:format|schema|template|structure)\s+(?:is|looks\s+like|would\s+be|should\s+be)"
    r"(?:\s+(?:like\s+)?(?:this|as\s+follows))?"
    r"|(?:for\s+example|for\s+instance|e\.g\.?)\b.{0,60}"
    r"|.{0,120}\b(?:for\s+example|for\s+instance|e\.g\.|such\s+as)"
    r")[\s:,.-]*$"
)
_INTRO_MARKUP = re.compile(r"[*_#>`]+")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _intro(text: str, c: Candidate) -> str | None:
    """The words that introduce candidate ``c`` as an example or template, or None."""
    line_start = text.rfind("\n", 0, c.start) + 1
    before = text[line_start : c.start]
    if c.kind == "fence" or not before.strip():
        # The previous non-blank line (for a fence: the line above its opening ```).
        end = line_start - 1
        while end > 0:
            start = text.rfind("\n", 0, end) + 1
            if text[start:end].strip():
                before = text[start:end]
                break
            end = start - 1
        else:
            return None
    words = _INTRO_MARKUP.sub("", before).strip()[-400:]
    last = _SENTENCES.split(words)[-1]  # "No population given. Example of the output:"
    for part in (last, words):
        if part and len(part) <= 160 and _INTRO.match(part):
            return part
    return None


def _tries(
    text: str, candidates: Sequence[Candidate]
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(label, kind, text) of everything to try, in answer order, the whole answer first;
    and why candidates introduced as examples were left out."""
    out = [] if any(c.text == text for c in candidates) else [("the whole answer", "whole", text)]
    skipped: list[str] = []
    counts = {"fence": 0, "json": 0}
    for c in candidates:
        counts[c.kind] += 1
        name = "fenced block" if c.kind == "fence" else "JSON value"
        label = f"{name} #{counts[c.kind]}"
        if (intro := _intro(text, c)) is not None:
            skipped.append(f"{label}: introduced as an example ({intro!r}), not the answer")
            continue
        out.append((label, "whole" if c.text == text else c.kind, c.text))
        out.extend((f"{label} (a value inside it)", c.kind, t) for t in c.inner)
    return out, skipped


def _key(adapter: TypeAdapter[Any], value: Any) -> bytes:
    try:
        return adapter.dump_json(value)
    except Exception:  # a value pydantic validated but cannot serialise: compare by repr
        return repr(value).encode()


_VALUE_KEYS = frozenset(
    "answer label labels sentiment category class classification prediction result verdict "
    "choice output value rating tone".split()
)


def _field(target: Target, candidates: Sequence[Candidate], errors: list[str]) -> _Hit | None:
    """A scalar answer written as a JSON object: ``{"label": "neutral"}``.

    The object must have one field, or exactly one field with a name such as ``label``,
    ``answer`` or ``sentiment``; its value is read as the answer itself would be.
    """
    for c in reversed(candidates):
        fixed = repair(c.text)
        if fixed.status != "complete":
            continue
        try:
            data = jiter.from_json(fixed.text.encode())
        except ValueError:
            continue
        if not isinstance(data, dict) or not data:
            continue
        keys = list(data) if len(data) == 1 else [k for k in data if k.lower() in _VALUE_KEYS]
        if len(keys) != 1:
            continue
        value = data[keys[0]]
        if isinstance(value, str):
            for read in target.readers:
                got = read(value)
                if not isinstance(got, _prose.Missing):
                    try:
                        return _Hit(target.adapter.validate_python(got[0]), c.text, "field", ())
                    except ValidationError:
                        continue
        elif isinstance(value, (int, float)):
            try:
                got_value = target.adapter.validate_python(value)
            except ValidationError as e:
                errors.append(f"field {keys[0]!r}: {brief(e)}")
                continue
            if isinstance(value, bool) == isinstance(got_value, bool):  # no True -> 1
                return _Hit(got_value, c.text, "field", ())
    return None


def _search(answer: str, target: Target, partial: bool) -> _Hit:
    """Find the value in one text (the answer, or the reasoning when salvaging)."""
    text = answer.strip()
    if target.text:
        try:
            return _Hit(target.adapter.validate_python(text), text, "whole", ())
        except ValidationError as e:
            raise _NotFound(f"the answer is not {target.description}", [text], [brief(e)]) from e
    if len(text) > MAX_ANSWER_CHARS:
        raise _NotFound(f"the answer is too long to search ({len(text)} chars)", [], [])
    found = scan(text)
    if found.truncated is not None:
        cut = found.truncated
        if not partial:
            msg = "the answer ends inside an unfinished JSON value (cut by the token limit?)"
            raise _NotFound(f"{msg}; pass partial=True to complete it", [cut.text], [msg])
        hit = _partial(target.adapter, cut)
        if isinstance(hit, str):
            raise _NotFound(f"the cut JSON value does not validate: {hit}", [cut.text], [hit])
        return hit
    tries, skipped = _tries(text, found.candidates)
    errors: list[str] = []
    taken: _Hit | None = None
    seen: dict[bytes, Any] = {}
    for label, kind, t in reversed(tries):
        result = _try(target.adapter, t)
        if isinstance(result, str):
            if taken is None:
                errors.append(f"{label}: {result}")
        elif taken is None:
            taken = _Hit(result[0], t, kind, result[1])
            seen[_key(target.adapter, result[0])] = result[0]
        else:  # an earlier valid candidate: the answer holds more than one value
            seen.setdefault(_key(target.adapter, result[0]), result[0])
    if taken is not None:
        others = tuple(reversed(list(seen.values())[1:]))
        return replace(taken, alternatives=others)
    errors.reverse()
    errors.extend(skipped)
    if target.readers:
        kept = [c for c in found.candidates if _intro(text, c) is None]
        field = _field(target, kept, errors)
        if field is not None:
            return field
    for read in target.readers:
        got = read(text)
        if isinstance(got, _prose.Missing):
            errors.append(got.reason)
            continue
        value, how = got
        try:
            value = target.adapter.validate_python(value)
        except ValidationError as e:
            errors.append(f"{how.evidence!r}: {brief(e)}")
            continue
        return _Hit(value, how.evidence, "boxed" if how.mark == "boxed" else "scalar", ())
    if target.text_fallback:
        try:
            return _Hit(target.adapter.validate_python(text), text, "whole", ())
        except ValidationError as e:
            errors.append(f"the whole answer as text: {brief(e)}")
    notes = [*found.notes]
    raise _NotFound(
        "no candidate in the answer validates as " + target.description,
        [t for _, _, t in tries],
        [*errors, *notes],
    )


# --- public API -----------------------------------------------------------------------------


def _as_split(text: str | Split) -> Split:
    if isinstance(text, Split):
        return text
    if isinstance(text, str):
        return split(text)
    raise WrongType(f"expected a str or a terse.Split, not {type(text).__name__}")


def _no_answer(sp: Split) -> str:
    if not sp.closed:
        return "thinking never ended (the output was cut inside the reasoning)"
    return "the model stopped after its reasoning without writing one"


@overload
def extract_details(
    text: str | Split,
    target: type[T],
    *,
    salvage: bool = ...,
    partial: bool = ...,
    strict: bool = ...,
) -> Extracted[T]: ...
@overload
def extract_details(
    text: str | Split,
    target: Any,
    *,
    salvage: bool = ...,
    partial: bool = ...,
    strict: bool = ...,
) -> Extracted[Any]: ...
def extract_details(
    text: str | Split,
    target: Any,
    *,
    salvage: bool = False,
    partial: bool = False,
    strict: bool = False,
) -> Extracted[Any]:
    """Like `extract`, but also say where the value came from and how it was repaired.

    ``Extracted.alternatives`` lists the other different values that validated in the
    answer; with ``strict=True`` such an answer is an `ExtractionError` instead.

    Example:
        >>> d = extract_details('<think>{"n": 1}</think>Final:\\n```json\\n{"n": 2,}\\n```', dict)
        >>> d.value, d.kind, d.repairs
        ({'n': 2}, 'fence', ('trailing_commas',))
    """
    sp = _as_split(text)
    tgt = target_for(target)
    source: Literal["answer", "reasoning"] = "answer"
    where = sp.answer
    if not sp.closed or not sp.answer.strip():
        if not salvage or not sp.reasoning.strip():
            raise ExtractionError(
                f"the output has no answer: {_no_answer(sp)}",
                text=sp.answer,
                target=tgt.description,
                reasoning=sp.reasoning,
            )
        logger.warning(
            "extract: the output has no answer: %s; salvaging from the reasoning", _no_answer(sp)
        )
        source, where = "reasoning", sp.reasoning
    try:
        hit = _search(where, tgt, partial)
    except _NotFound as e:
        message = str(e)
        if source == "reasoning":
            message = f"the output has no answer: {_no_answer(sp)}; salvage failed too: {e}"
        detail = "".join(f"\n  - {err}" for err in e.errors[-5:] if err not in message)
        raise ExtractionError(
            message + detail,
            text=sp.answer,
            candidates=e.candidates,
            errors=e.errors,
            target=tgt.description,
            reasoning=sp.reasoning,
        ) from None
    if strict and hit.alternatives:
        shown = "; ".join(_short(repr(v)) for v in (*hit.alternatives[-3:], hit.value))
        raise ExtractionError(
            f"the answer holds {len(hit.alternatives) + 1} different valid values ({shown});"
            " strict=True refuses to choose",
            text=sp.answer,
            candidates=[hit.candidate],
            errors=[f"other valid values: {shown}"],
            target=tgt.description,
            reasoning=sp.reasoning,
        )
    return Extracted(hit.value, source, hit.candidate, hit.kind, hit.repairs, hit.alternatives)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@overload
def extract(
    text: str | Split,
    target: type[T],
    *,
    salvage: bool = ...,
    partial: bool = ...,
    strict: bool = ...,
) -> T: ...
@overload
def extract(
    text: str | Split,
    target: Any,
    *,
    salvage: bool = ...,
    partial: bool = ...,
    strict: bool = ...,
) -> Any: ...
def extract(
    text: str | Split,
    target: Any,
    *,
    salvage: bool = False,
    partial: bool = False,
    strict: bool = False,
) -> Any:
    """Return the value of type ``target`` that the model's final answer gives.

    ``text`` is a whole model output (split into reasoning and answer first) or a `Split`.
    ``target`` is a pydantic model, dataclass, TypedDict, or anything pydantic's
    ``TypeAdapter`` accepts (``int``, ``bool``, ``Literal[...]``, ``list[...]``, unions…).

    Candidates the answer introduces as examples or templates ("Example of the format:",
    "For example", "e.g.", "Template:", "The schema is:") are not the answer. Of the rest,
    the last valid one wins; ``strict=True`` raises instead when the answer holds several
    different valid values.

    Raises:
        ExtractionError: the output has no answer, or nothing in it validates as
            ``target`` (or, with ``strict=True``, several different values do); it
            carries every candidate tried and why each failed.

    Example:
        >>> out = '<think>Maybe {"city": "Lyon"}?</think>It is:\\n```json\\n{"city": "Paris"}\\n```'
        >>> extract(out, dict)
        {'city': 'Paris'}
        >>> extract("<think>2+2</think>The answer is **4**.", int)
        4
    """
    return extract_details(text, target, salvage=salvage, partial=partial, strict=strict).value


def extract_boxed(text: str | Split) -> str | None:
    """The content of the last ``\\boxed{…}`` in the answer (nested braces kept), or None.

    Example:
        >>> extract_boxed(r"<think>\\boxed{5}?</think>So $\\boxed{\\frac{1}{2}}$.")
        '\\\\frac{1}{2}'
    """
    sp = _as_split(text)
    return _prose.last_boxed(sp.answer) if sp.closed else None


def extract_choice(
    text: str | Split, options: str | Sequence[str] | Mapping[str, str] = "ABCD"
) -> str | None:
    """The multiple-choice letter the answer states, or None when absent or ambiguous.

    Recognises "(C)", "**Answer: B**", "The correct option is D", "Answer: (A) Paris", a
    bare letter, and ``\\boxed{C}``. With ``options`` as a mapping of letter to option
    text, an answer that repeats one option's text also counts.

    Example:
        >>> extract_choice("<think>A or C?</think>The correct option is **C**.")
        'C'
        >>> extract_choice("It is (A) or (B).") is None
        True
    """
    _check_options(options)
    sp = _as_split(text)
    return _prose.stated_choice(sp.answer, options) if sp.closed else None


def _check_options(options: object) -> None:
    """`extract_choice`'s options: letters as a str, a sequence, or a mapping to their text."""
    if isinstance(options, Mapping):
        letters: list[object] = list(options.keys())
        texts: list[object] = list(options.values())
    elif isinstance(options, (str, Sequence)):
        letters, texts = list(options), []
    else:
        raise WrongType(
            "extract_choice() options must be letters (a str such as 'ABCD' or a sequence), "
            f"or a mapping of letter to option text, not {type(options).__name__}"
        )
    for letter in letters:
        if not isinstance(letter, str) or len(letter) != 1 or letter.isspace():
            raise UsageError(f"extract_choice() options must be single letters, not {letter!r}")
    for text in texts:
        if not isinstance(text, str):
            raise WrongType(f"extract_choice() option texts must be str, not {text!r}")
