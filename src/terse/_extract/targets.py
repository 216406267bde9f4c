"""What a target type needs for extraction: a cached pydantic adapter, prose readers, words.

`target_for` turns ``int``, ``Literal["spam", "ham"]``, a pydantic model, ``list[City] |
None``… into a `Target`: the ``TypeAdapter`` that validates it (built once and cached), the
prose readers that apply to its scalar alternatives (numbers, ``bool``, labels), and a short
description for feedback to the model ("a JSON object with fields city (string), …").
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

from pydantic import PydanticUserError, TypeAdapter, ValidationError

from .._exceptions import UsageError
from . import prose as _prose

__all__ = ["Reader", "Target", "brief", "target_for"]

Reader: TypeAlias = Callable[[str], "tuple[Any, _prose.Found] | _prose.Missing"]
"""Reads a value stated in prose: (value, how it was found), or why nothing was taken."""


@dataclass(frozen=True)
class Target:
    """Everything extraction needs to know about one target type.

    Attributes:
        adapter: Validates candidates (``validate_json``) and prose values.
        text: The target is ``str``: the whole answer is the value.
        text_fallback: ``str`` is one alternative of a union: the whole answer is the value
            when nothing else validates.
        readers: Prose readers for the scalar alternatives, in the union's order.
        description: The target in words, for feedback to the model.
    """

    adapter: TypeAdapter[Any]
    text: bool
    text_fallback: bool
    readers: tuple[Reader, ...]
    description: str


_TARGETS: dict[Any, Target] = {}
_TARGETS_MAX = 512


def _members(tp: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated, Optional or Union) type, None dropped."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        return [m for a in get_args(tp) for m in _members(a)]
    return [] if tp is type(None) else [tp]


def _number_reader(tp: Any) -> Reader:
    adapter = TypeAdapter(tp)

    def read(answer: str) -> tuple[Any, _prose.Found] | _prose.Missing:
        found = _prose.stated_number(answer)
        if isinstance(found, _prose.Missing):
            return found
        try:
            return adapter.validate_python(found.value), found
        except ValidationError as e:
            return _prose.Missing(f"the stated number {found.value}: {brief(e)}")

    return read


def _label_reader(values: Mapping[str, Any]) -> Reader:
    def read(answer: str) -> tuple[Any, _prose.Found] | _prose.Missing:
        found = _prose.stated_label(answer, values)
        if isinstance(found, _prose.Missing):
            return found
        return values[found.value], found

    return read


def _read_bool(answer: str) -> tuple[Any, _prose.Found] | _prose.Missing:
    found = _prose.stated_bool(answer)
    return found if isinstance(found, _prose.Missing) else (found.value == "true", found)


def _labels(tp: Any) -> dict[str, Any] | None:
    if get_origin(tp) is Literal:
        return {str(v.value if isinstance(v, Enum) else v): v for v in get_args(tp)}
    if isinstance(tp, type) and issubclass(tp, Enum):
        table: dict[str, Any] = {m.name: m for m in tp}
        table.update({str(m.value): m for m in tp})
        return table
    return None


def target_for(tp: Any) -> Target:
    """The cached adapter and prose readers for a target type."""
    try:
        return _TARGETS[tp]
    except KeyError:
        pass
    except TypeError:  # unhashable (Annotated with unhashable metadata): build each time
        return _build_target(tp)
    if len(_TARGETS) >= _TARGETS_MAX:
        _TARGETS.clear()
    target = _TARGETS[tp] = _build_target(tp)
    return target


def _build_target(tp: Any) -> Target:
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(tp)
    except (PydanticUserError, TypeError) as e:
        raise UsageError(f"cannot extract a {tp!r}: pydantic cannot validate it ({e})") from e
    members = _members(tp)
    readers: list[Reader] = []
    for m in members:
        labels = _labels(m)
        if labels is not None:
            readers.append(_label_reader(labels))
        elif m is bool:
            readers.append(_read_bool)
        elif isinstance(m, type) and issubclass(m, (int, float, Decimal)):
            readers.append(_number_reader(m))
    text = bool(members) and all(m is str for m in members)
    return Target(adapter, text, str in members, tuple(readers), _describe(adapter, tp))


_SIMPLE = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number"}
_ARTICLE.update(boolean="true or false", null="null")


def _schema_words(schema: Mapping[str, Any], defs: Mapping[str, Any], top: bool) -> str:
    """A short human description of a JSON schema, for feedback to the model."""
    if "$ref" in schema:
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return "one of " + ", ".join(json.dumps(v) for v in values[:12])
    alts = schema.get("anyOf") or schema.get("oneOf")
    if alts:
        return " or ".join(_schema_words(a, defs, top) for a in alts[:4])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties")
        if props and top:
            fields = ", ".join(f"{k} ({_schema_words(v, defs, False)})" for k, v in props.items())
            return f"a JSON object with fields {fields}"
        return "a JSON object" if top else "object"
    if kind == "array":
        items = _schema_words(schema.get("items", {}), defs, False)
        return f"a JSON array of {items}" if top else f"array of {items}"
    if isinstance(kind, str):
        return _ARTICLE.get(kind, kind) if top else _SIMPLE.get(kind, kind)
    return "a JSON value" if top else "any value"


def _describe(adapter: TypeAdapter[Any], tp: Any) -> str:
    try:
        schema = adapter.json_schema()
    except Exception:  # a type without a JSON schema can still validate: name it instead
        return getattr(tp, "__name__", repr(tp))
    return _schema_words(schema, schema.get("$defs", {}), top=True)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def brief(e: ValidationError) -> str:
    """pydantic's messages, one line: ``population: Input should be a valid integer, got …``."""
    parts = []
    for err in e.errors(include_url=False)[:3]:
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"]
        if err["type"] not in ("json_invalid", "missing") and "input" in err:
            msg += f", got {_short(repr(err['input']), 40)}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    if e.error_count() > 3:
        parts.append(f"and {e.error_count() - 3} more")
    return "; ".join(parts)
