"""The JSON schema a model is given (and constrained by): the contract's schema with every string and list capped.

A small model under a grammar can loop inside a string or a list until max_tokens; caps make every answer end.
Validation of the answer still uses the pydantic model itself.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel

#: Mark a schema node (json_schema_extra) to leave it and what it holds uncapped: max_tokens bounds it instead.
#: llama.cpp's server turns maxLength into a grammar repetition; around a few thousand it fails (4000: the request
#: dies; 40000: the server process dies), so long texts such as generated files must not be capped this way.
UNCAPPED = "x-paper2run-uncapped"
#: Generous for real plans (a long pip line is ~300 characters), small enough that a loop ends within seconds.
MAX_STRING = 400
MAX_ITEMS = 16
MAX_PROPERTIES = 16


def capped_schema(model: type[BaseModel], *, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS) -> dict[str, Any]:
    schema = copy.deepcopy(model.model_json_schema())
    _cap(schema, max_string, max_items)
    return schema


def _cap(node: Any, max_string: int, max_items: int) -> None:
    if isinstance(node, list):
        for item in node:
            _cap(item, max_string, max_items)
        return
    if not isinstance(node, dict):
        return
    if node.pop(UNCAPPED, False):
        return
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    # a cap the contract sets itself (a generated file's text) is deliberate and kept
    if "string" in kinds and "enum" not in node and "const" not in node:
        node.setdefault("maxLength", max_string)
    if "array" in kinds:
        node.setdefault("maxItems", max_items)
    if "object" in kinds and isinstance(node.get("additionalProperties"), dict):
        node.setdefault("maxProperties", MAX_PROPERTIES)
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            for sub in value.values() if isinstance(value, dict) else []:
                _cap(sub, max_string, max_items)
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems", "not"):
            _cap(value, max_string, max_items)


def schema_text(model: type[BaseModel], level: int = 0, keep: tuple[str, ...] = ()) -> str:
    """The capped schema as the prompt shows it: one line, without the titles (the property names say it).

    Smaller forms for a small context window (the grammar the endpoint enforces stays the full capped schema):
    level 1 drops the descriptions; level 2 also drops every optional property that refers to a definition,
    except the definitions named in `keep` (shown inline, cut the same way); level 3 shows those as bare objects
    (for a prompt that shows one of them in full elsewhere, as the diagnosis prompt shows the failed plan)."""
    schema = _untitled(capped_schema(model))
    if level == 0:
        return json.dumps(schema, ensure_ascii=False)
    schema = _undescribed(schema)
    if level >= 2:
        defs = schema.pop("$defs", {})
        schema = _without_refs(schema, defs, keep, bare=level >= 3)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def _undescribed(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _undescribed(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [_undescribed(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _inline(node: Any, defs: dict[str, Any], keep: tuple[str, ...], bare: bool) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in keep and ref.rsplit("/", 1)[-1] in defs:
            name = ref.rsplit("/", 1)[-1]
            return {"type": "object", "title": name} if bare else _without_refs(defs[name], defs, keep, bare)
        return {k: _inline(v, defs, keep, bare) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs, keep, bare) for v in node]
    return node


def _without_refs(node: dict[str, Any], defs: dict[str, Any], keep: tuple[str, ...],
                  bare: bool = False) -> dict[str, Any]:
    required = set(node.get("required", []))
    props = {k: v for k, v in node.get("properties", {}).items()
             if k in required or not (_refs(v) - set(keep))}
    out = {k: v for k, v in node.items() if k != "properties"}
    if "properties" in node:
        out["properties"] = _inline(props, defs, keep, bare)
    return out


def _untitled(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    return node
