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


def schema_text(model: type[BaseModel]) -> str:
    """The capped schema as the prompt shows it: one line, without the titles (the property names say it)."""
    return json.dumps(_untitled(capped_schema(model)), ensure_ascii=False)


def _untitled(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    return node
