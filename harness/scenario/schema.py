"""A JSON Schema of the scenario format, generated from the op table, for editors.

yaml-language-server (VS Code, Neovim...), JetBrains IDEs and check-jsonschema
read it to complete and check scenario files while they are written. It is made
from harness/scenario/ops.py, so it cannot drift from what the loader accepts;
it says what a schema can (fields, types, ranges, names, outcomes per op), while
what needs the whole file (a socket defined before its use, unique names) stays
the loader's: `harness validate` is the final word. `harness schema` prints it;
docs/scenario.schema.json is a copy a test keeps equal.
"""
from __future__ import annotations

from typing import Any

from . import ops
from .expand import MAX_COMBINATIONS
from .selector import ALIASES, GROUPS, OS_FAMILIES
from .variants import ADDRESS_FAMILIES

_REF = r"\$\{[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_-]*)?\}"
NAME = rf"^([a-z0-9_.-]|{_REF})+$"  # a matrix template's name holds ${parameters}
# In a matrix template any field may be (or hold) a ${parameter}; the loader checks each combination.
REFERENCE = {"type": "string", "pattern": _REF, "description": "a matrix parameter: ${name} or ${name.field}"}
IDENT = "^[A-Za-z0-9_.-]+$"
ERRNO = "^E[A-Z0-9]+$"
VERSION = r"\d{1,9}(\.\d{1,9}){0,7}"


def _selector() -> dict[str, Any]:
    families = "|".join(OS_FAMILIES + tuple(ALIASES))
    groups = "|".join(tuple(GROUPS) + ("default",))
    return {"type": "string", "description": "an OS family, optionally with one version comparison: linux<3.9; "
                                             "in a variant, [conditions] narrow it: linux[inet6, state=bound]",
            "pattern": rf"^\s*(({families})\s*((<=|>=|==|!=|<|>|=)\s*{VERSION})?|{groups})\s*(\[[^\[\]]*\])?\s*$"}


def _field(field: ops.Field) -> dict[str, Any]:
    return {"anyOf": [_kind(field), REFERENCE]}


def _kind(field: ops.Field) -> dict[str, Any]:
    kind = field.kind
    if kind in ("sock", "sock_new", "actor"):
        return {"type": "string", "pattern": IDENT}
    if kind == "socks":
        return {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": IDENT}}
    if kind == "choice":
        return {"enum": list(field.choices)}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "int":
        out: dict[str, Any] = {"type": "integer", "minimum": 0}
        return {**out, "maximum": field.maximum} if field.maximum is not None else out
    if kind == "value":
        return {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": -2**31, "maximum": 2**31 - 1},
                          {"type": "string", "description": "a multicast group, for IP_ADD_MEMBERSHIP"}]}
    if kind == "text":
        return {"type": ["string", "number"]}
    if kind == "addr":
        return {"type": "string", "description": f"{', '.join(ops.ADDRESSES)}, or a loopback, unspecified or "
                                                 "multicast IP address"}
    if kind == "port":
        return {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 65535},
                          {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}]}
    if kind == "opt":
        return {"enum": list(ops.OPTIONS)}
    if kind == "level":
        return {"enum": list(ops.LEVELS)}
    if kind == "dest":
        return {"type": "object", "additionalProperties": False, "required": ["addr", "port"],
                "properties": {name: _field(f) for name, f in ops.DEST_FIELDS.items()}}
    raise ValueError(f"no schema for field kind {kind!r}")


def _outcome(op: ops.Op) -> dict[str, Any]:
    words = [k for k in op.outcomes if k in ops.WORDS] + ["any"]
    forms: list[dict[str, Any]] = [{"enum": words}]
    if "errno" in op.outcomes:
        forms.append({"type": "string", "pattern": ERRNO})
    if "single" in op.outcomes:
        forms.append({"type": "string", "pattern": "^single:[A-Za-z0-9_.-]+$"})
    if "value" in op.outcomes:
        forms.append({"type": "object", "additionalProperties": False, "required": ["value"],
                      "properties": {"value": {"anyOf": [{"type": "integer"}, {"type": "boolean"},
                                                         {"const": "nonzero"}]}}})
    return {"anyOf": forms}


def _expect(op: ops.Op) -> dict[str, Any]:
    outcome = _outcome(op)
    by_selector = {"type": "object", "minProperties": 1, "propertyNames": _selector(),
                   "additionalProperties": outcome}
    return {"anyOf": [outcome, by_selector, REFERENCE]}


def _step(name: str, op: ops.Op) -> dict[str, Any]:
    properties: dict[str, Any] = {"op": {"const": name}, "note": {"type": "string"}, "expect": _expect(op),
                                  "if": {"type": "object", "minProperties": 1, "description":
                                         "run the step only in combinations where each parameter has this "
                                         "value (or one of these values)"}}
    properties.update({field: _field(f) for field, f in op.fields.items()})
    return {"if": {"properties": {"op": {"const": name}}, "required": ["op"]},
            "then": {"properties": properties, "additionalProperties": False,
                     "required": ["op", *[n for n, f in op.fields.items() if f.required]]}}


def _families() -> dict[str, Any]:
    return {"type": "array", "uniqueItems": True, "items": {"enum": list(ADDRESS_FAMILIES)},
            "description": "run each scenario once per address family (docs/variants.md)"}


def json_schema() -> dict[str, Any]:
    strings = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "harness scenario file",
        "description": "One suite of socket scenarios (docs/scenario-format.md). Generated by `harness schema`.",
        "type": "object",
        "additionalProperties": False,
        "required": ["suite", "scenarios"],
        "properties": {
            "suite": {"type": "string", "pattern": "^[a-z0-9_.-]+$"},
            "description": {"type": "string"},
            "families": _families(),
            "scenarios": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/scenario"}},
        },
        "$defs": {
            "scenario": {
                "type": "object", "additionalProperties": False, "required": ["name", "steps"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME},
                    "description": {"type": "string"},
                    "tags": strings,
                    "families": _families(),
                    "matrix": {"type": "object", "minProperties": 1, "maxProperties": 64,
                               "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "not": {"const": "family"}},
                               "additionalProperties": {"type": "array", "minItems": 1,
                                                        "maxItems": MAX_COMBINATIONS},
                               "description": "parameters and their values: one scenario per combination"},
                    "only": {"anyOf": [_selector(), {"type": "array", "minItems": 1, "items": _selector()}]},
                    "actors": {"type": "object", "propertyNames": {"pattern": IDENT},
                               "additionalProperties": {"anyOf": [{"type": "null"}, {
                                   "type": "object", "additionalProperties": False,
                                   "properties": {"user": {"type": "string",
                                                           "pattern": "^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"}}}]}},
                    "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
                },
            },
            "step": {"type": "object", "required": ["op"], "properties": {"op": {"enum": list(ops.OPS)}},
                     "allOf": [_step(name, op) for name, op in ops.OPS.items()]},
        },
    }
