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

from . import ops, settings, stepgroups
from .expand import MAX_COMBINATIONS, PARAM, REF, REFERENCE_SCHEMA
from .fields import IDENT, field_schema
from .outcomes import OUTCOME_KINDS
from .selector import ALIASES, GROUPS, OS_FAMILIES
from .variants import ADDRESS_FAMILIES

NAME = rf"^([a-z0-9_.-]|{REF.pattern})+$"  # a matrix template's name holds ${parameters}
VERSION = r"\d{1,9}(\.\d{1,9}){0,7}"


def _selector() -> dict[str, Any]:
    families = "|".join(OS_FAMILIES + tuple(ALIASES))
    groups = "|".join(tuple(GROUPS) + ("default",))
    return {"type": "string", "description": "an OS family, optionally with one version comparison: linux<3.9; "
                                             "in a variant, [conditions] narrow it: linux[inet6, state=bound]",
            "pattern": rf"^\s*(({families})\s*((<=|>=|==|!=|<|>|=)\s*{VERSION})?|{groups})\s*(\[[^\[\]]*\])?\s*$"}


def _outcome(op: ops.Op) -> dict[str, Any]:
    kinds = [OUTCOME_KINDS[k] for k in op.outcomes]
    words = [k.word for k in kinds if k.word] + ["any"]
    return {"anyOf": [{"enum": words}, *(form for k in kinds for form in k.schema)]}


def _expect(op: ops.Op) -> dict[str, Any]:
    outcome = _outcome(op)
    by_selector = {"type": "object", "minProperties": 1, "propertyNames": _selector(),
                   "additionalProperties": {"anyOf": [outcome, REFERENCE_SCHEMA]}}
    return {"anyOf": [outcome, by_selector, REFERENCE_SCHEMA]}


def _step(name: str, op: ops.Op) -> dict[str, Any]:
    properties: dict[str, Any] = {"op": {"const": name}, "note": {"type": "string"}, "expect": _expect(op),
                                  "if": {"type": "object", "minProperties": 1, "description":
                                         "run the step only in combinations where each parameter has this "
                                         "value (or one of these values)"}}
    properties.update({name: field_schema(f) for name, f in op.fields.items()})
    return {"if": {"properties": {"op": {"const": name}}, "required": ["op"]},
            "then": {"properties": properties, "additionalProperties": False,
                     "required": ["op", *[n for n, f in op.fields.items() if f.required]]}}


def _groups() -> dict[str, Any]:
    """`repeat:` and `together:` groups of steps (harness/scenario/stepgroups.py)."""
    count = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": stepgroups.MAX_STEPS}, REFERENCE_SCHEMA]}
    cond = {"type": "object", "minProperties": 1}
    return {
        "repeat": {"type": "object", "additionalProperties": False, "required": ["repeat", "steps"],
                   "description": "its steps N times, ${i} (or ${as}) the iteration's number from `from` (0)",
                   "properties": {"repeat": count, "from": {"anyOf": [{"type": "integer", "minimum": 0},
                                                                      REFERENCE_SCHEMA]},
                                  "as": {"type": "string", "pattern": f"^{PARAM.pattern}$"}, "if": cond,
                                  "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}}}},
        "together": {"type": "object", "additionalProperties": False, "required": ["together"],
                     "description": "steps of several actors run at the same time, each actor's in order",
                     "properties": {"if": cond, "together": {"type": "array", "minItems": 2, "items": {
                         "anyOf": [{"$ref": "#/$defs/step"}, {"$ref": "#/$defs/repeat"}]}}}},
        "item": {"anyOf": [{"$ref": "#/$defs/step"}, {"$ref": "#/$defs/repeat"}, {"$ref": "#/$defs/together"}]},
    }


def _sysctl() -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "propertyNames": {"enum": list(settings.SETTINGS)},
            "additionalProperties": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "boolean"},
                                               {"type": "string", "pattern": r"^\d{1,5}\s+\d{1,5}$"},
                                               {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                                "maxItems": 2}]},
            "description": "kernel settings the scenario runs with, set where only it sees them (docs/scenario-format.md)"}


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
                    "actors": {"type": "object", "propertyNames": {"pattern": f"^{IDENT.pattern}$"},
                               "additionalProperties": {"anyOf": [{"type": "null"}, {
                                   "type": "object", "additionalProperties": False,
                                   "properties": {"user": {"type": "string",
                                                           "pattern": "^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"}}}]}},
                    "sysctl": _sysctl(),
                    "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}},
                },
            },
            "step": {"type": "object", "required": ["op"], "properties": {"op": {"enum": list(ops.OPS)}},
                     "allOf": [_step(name, op) for name, op in ops.OPS.items()]},
            **_groups(),
        },
    }
