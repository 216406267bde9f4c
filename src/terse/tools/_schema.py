"""Tool specifications: OpenAI tool dicts, Python functions and pydantic models, normalised.

`ToolSpec` is what every layer reads: ``name``, ``description``, a JSON-schema ``parameters``
object, and `ToolSpec.validate`, which checks a call's arguments and coerces them to the
schema. Untyped values from the XML formats (Qwen3-Coder, GLM, MiniMax, DSML) are typed by
the schema first (`coerce_text`): ``"1"`` becomes ``1`` for an integer parameter and stays
``"1"`` for a string one.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from .._exceptions import UsageError

__all__ = ["ToolLike", "ToolSpec", "coerce_text", "schema_errors", "tool_spec", "tool_specs"]

ToolLike = Any
"""An OpenAI tool dict, a plain function, a pydantic model class, or a `ToolSpec`."""

_MAX_ERRORS = 20
_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class ToolSpec:
    """One tool, normalised.

    Attributes:
        name: The name the model calls it by.
        description: What it does (sent to the model).
        parameters: A JSON schema of type ``object`` for the arguments.
        model: For functions and pydantic models: the pydantic model that validates the
            arguments (None for tool dicts, which are validated against ``parameters``).
        function: The Python function, when the tool was given as one.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    model: type[pydantic.BaseModel] | None = field(default=None, repr=False, compare=False)
    function: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def to_openai(self) -> dict[str, Any]:
        """The tool as an OpenAI ``tools`` item."""
        fn: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            fn["description"] = self.description
        return {"type": "function", "function": fn}

    def property_schema(self, key: str) -> Mapping[str, Any] | None:
        """The schema of one parameter, or None when the schema does not name it."""
        props = self.parameters.get("properties")
        if isinstance(props, Mapping):
            sub = props.get(key)
            if isinstance(sub, Mapping):
                return _resolve(sub, self.parameters)
        return None

    def coerce_texts(self, texts: Mapping[str, str]) -> dict[str, Any]:
        """Type untyped (XML) argument values by this tool's schema."""
        return {
            k: coerce_text(v, self.property_schema(k), self.parameters) for k, v in texts.items()
        }

    def validate(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Check ``arguments`` against the schema; return (coerced arguments, errors).

        The arguments stay JSON-shaped. Errors are one line each; empty means valid.
        """
        if self.model is not None:
            try:
                obj = self.model.model_validate(dict(arguments))
            except pydantic.ValidationError as e:
                errs = tuple(
                    f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
                    for err in e.errors()[:_MAX_ERRORS]
                )
                return dict(arguments), errs
            dumped = obj.model_dump(mode="json", exclude_unset=True)
            return dumped, ()
        errors = schema_errors(arguments, self.parameters, self.parameters)
        return dict(arguments), tuple(errors)

    def bind(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for calling `function` (pydantic-validated Python values)."""
        if self.model is None:
            return dict(arguments)
        obj = self.model.model_validate(dict(arguments))
        return {k: getattr(obj, k) for k in obj.model_fields_set | _required(self.model)}


def _required(model: type[pydantic.BaseModel]) -> set[str]:
    return {k for k, f in model.model_fields.items() if f.is_required()}


# --- building specs -------------------------------------------------------------------


def tool_spec(tool: ToolLike) -> ToolSpec:
    """Normalise one tool: an OpenAI tool dict, a function, a pydantic model, or a ToolSpec."""
    if isinstance(tool, ToolSpec):
        return tool
    if isinstance(tool, Mapping):
        return _from_dict(tool)
    if isinstance(tool, type) and issubclass(tool, pydantic.BaseModel):
        schema = tool.model_json_schema()
        desc = inspect.getdoc(tool) or ""
        if desc == inspect.getdoc(pydantic.BaseModel):
            desc = ""
        schema.pop("title", None)
        schema.pop("description", None)
        return ToolSpec(tool.__name__, desc, schema, model=tool)
    if callable(tool):
        return _from_function(tool)
    raise UsageError(
        f"a tool must be an OpenAI tool dict, a function or a pydantic model, not {type(tool).__name__}"
    )


def tool_specs(tools: Iterable[ToolLike] | None) -> dict[str, ToolSpec]:
    """Normalise a ``tools=`` list into specs by name (an empty dict for None)."""
    out: dict[str, ToolSpec] = {}
    if tools is None:
        return out
    if isinstance(tools, (Mapping, str)) or not isinstance(tools, Iterable):
        raise UsageError("tools must be a list of tools")
    for t in tools:
        spec = tool_spec(t)
        if spec.name in out:
            raise UsageError(f"two tools are named {spec.name!r}")
        out[spec.name] = spec
    return out


def _from_dict(tool: Mapping[str, Any]) -> ToolSpec:
    fn = tool.get("function") if tool.get("type", "function") == "function" else None
    if fn is None and "name" in tool and "type" not in tool:
        fn = tool  # a bare function definition {"name", "parameters"}
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise UsageError(
            'a tool dict must look like {"type": "function", "function": {"name": ..., "parameters": ...}}'
        )
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, Mapping):
        raise UsageError(f"tool {fn['name']!r}: parameters must be a JSON schema object")
    return ToolSpec(str(fn["name"]), str(fn.get("description") or ""), dict(params))


def _docstring_args(doc: str) -> tuple[str, dict[str, str]]:
    """Summary and per-argument descriptions from a Google-style docstring."""
    lines = doc.splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _ARGS_HEADER.match(lines[i]):
        summary.append(lines[i])
        i += 1
    current = ""
    for line in lines[i + 1 :]:
        m = _ARG_LINE.match(line)
        if m and (not current or len(line) - len(line.lstrip()) <= 4):
            current = m.group(1).lstrip("*")
            args[current] = m.group(2).strip()
        elif line.strip() and current and line.startswith(" " * 6):
            args[current] = (args[current] + " " + line.strip()).strip()
        elif line.strip() and not line.startswith(" "):
            break
    return "\n".join(summary).strip(), args


def _from_function(fn: Callable[..., Any]) -> ToolSpec:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise UsageError("a function given as a tool needs a __name__ (not a lambda)")
    summary, arg_docs = _docstring_args(inspect.getdoc(fn) or "")
    try:
        sig = inspect.signature(fn)
        hints = _type_hints(fn)
    except (TypeError, ValueError, NameError) as e:
        raise UsageError(f"tool {name!r}: cannot read its signature: {e}") from None
    fields: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("self", "cls"):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            raise UsageError(
                f"tool {name!r}: positional-only parameter {p.name!r} cannot be passed by name"
            )
        ann = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (ann, pydantic.Field(default, description=arg_docs.get(p.name)))
    try:
        model = pydantic.create_model(name, **fields)
        schema = model.model_json_schema()
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as e:
        raise UsageError(
            f"tool {name!r}: cannot build a schema from its annotations: {e}"
        ) from None
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return ToolSpec(name, summary, schema, model=model, function=fn)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(fn, include_extras=True)


# --- a small JSON-schema reader: typing text, checking values --------------------------


def _resolve(
    schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0
) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and depth < 16:
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            return _resolve(node, root, depth + 1)
    return schema


def _types(schema: Mapping[str, Any] | None, root: Mapping[str, Any]) -> list[str]:
    """The JSON types a schema allows, in a useful order ([] means any)."""
    if schema is None:
        return []
    schema = _resolve(schema, root)
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    out: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            for s in subs:
                if isinstance(s, Mapping):
                    out.extend(x for x in _types(s, root) if x not in out)
    if not out and "enum" in schema and isinstance(schema["enum"], list):
        for v in schema["enum"]:
            jt = _json_type(v)
            if jt not in out:
                out.append(jt)
    if not out and isinstance(schema.get("properties"), Mapping):
        out.append("object")
    return out


def coerce_text(
    text: str, schema: Mapping[str, Any] | None, root: Mapping[str, Any] | None = None
) -> Any:
    """Type one untyped (XML) argument value by its schema.

    Without a schema, or when the schema allows a string, the text stays a string, except
    ``null`` for a nullable parameter. Numbers, booleans, objects and arrays are parsed when
    the schema asks for them; a value that does not parse stays text (validation then says
    why).
    """
    types = _types(schema, root or {})
    if not types:
        return text
    stripped = text.strip()
    if "null" in types and stripped == "null":
        return None
    if "string" in types:
        return text
    for t in types:
        if t == "integer" and re.fullmatch(r"-?\d+", stripped):
            return int(stripped)
        if t == "number":
            try:
                v = float(stripped)
            except ValueError:
                continue
            if math.isfinite(v):
                return int(v) if re.fullmatch(r"-?\d+", stripped) else v
        if t == "boolean" and stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        if t in ("object", "array"):
            try:
                v = json.loads(stripped)
            except ValueError:
                continue
            if _json_type(v) == t:
                return v
    return text


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def schema_errors(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str = "", depth: int = 0
) -> list[str]:
    """Where ``value`` breaks ``schema`` (a practical subset of JSON schema), one line each."""
    if depth > 64:
        return []
    schema = _resolve(schema, root)
    where = path or "(arguments)"
    errors: list[str] = []
    for key in ("anyOf", "oneOf"):
        subs = schema.get(key)
        if isinstance(subs, list) and subs:
            if not any(
                not schema_errors(value, s, root, path, depth + 1)
                for s in subs
                if isinstance(s, Mapping)
            ):
                errors.append(f"{where}: does not match any allowed schema")
            return errors
    types = _types(schema, root) if "type" in schema else []
    jt = _json_type(value)
    if types and jt not in types and not (jt == "integer" and "number" in types):
        errors.append(f"{where}: expected {' or '.join(types)}, got {jt}")
        return errors
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        errors.append(f"{where}: must be one of {enum!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}")
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        req = schema.get("required")
        for k in req if isinstance(req, list) else []:
            if k not in value:
                errors.append(f"{path + '.' if path else ''}{k}: required")
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            sub = props.get(k)
            p = f"{path}.{k}" if path else str(k)
            if isinstance(sub, Mapping):
                errors.extend(schema_errors(v, sub, root, p, depth + 1))
            elif extra is False:
                errors.append(f"{p}: unexpected argument")
            elif isinstance(extra, Mapping):
                errors.extend(schema_errors(v, extra, root, p, depth + 1))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, v in enumerate(value):
                errors.extend(schema_errors(v, items, root, f"{path}[{i}]", depth + 1))
    return errors[:_MAX_ERRORS]
