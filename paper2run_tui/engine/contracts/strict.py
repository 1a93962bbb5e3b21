"""Strict plans: an unknown key is an error that says which key was probably meant.

A misspelled key (`smoke_comand`) used to vanish silently, so the old value ran. `StrictModel` forbids unknown
keys and rewrites pydantic's "Extra inputs are not permitted" into "unknown field 'smoke_comand' (did you mean
'smoke_command'?)", at any depth; a missing field that a misspelling explains says so too. The messages are
plain strings in `ValidationError.errors()`, so the gate's editor and the LLM's corrective round show them as is.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside an annotation such as `list[SmokeRung]`, `SmokeRung | None`, `dict[str, X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for arg in typing.get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        info = current.model_fields.get(str(part))
        if info is None:
            # a dict key (env name, index name): stay on the dict's value model
            continue
        current = _nested_model(info.annotation)
    return current


def _suggest(key: str, names: list[str]) -> str | None:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _custom(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


class StrictModel(BaseModel):
    """Unknown keys are errors with a "did you mean"; every other error passes through unchanged."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _explain_unknown_keys(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise _explained(cls, exc) from None


def _explained(cls: type[BaseModel], exc: ValidationError) -> ValidationError:
    errors = exc.errors()
    misspelt: dict[tuple[Any, ...], str] = {}  # loc of the field a misspelling meant -> the misspelt key
    details: list[InitErrorDetails] = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc:
            key = str(loc[-1])
            owner = _model_at(cls, loc[:-1])
            meant = _suggest(key, list(owner.model_fields)) if owner is not None else None
            hint = f" (did you mean {meant!r}?)" if meant else ""
            if meant:
                misspelt[(*loc[:-1], meant)] = key
            details.append(InitErrorDetails(type=_custom("unknown_field", f"unknown field {key!r}{hint}"), loc=loc,
                                            input=err["input"]))
            continue
        detail = InitErrorDetails(type=err["type"], loc=loc, input=err["input"])
        if err["type"] not in _BUILTIN_TYPES:
            detail = InitErrorDetails(type=_custom(err["type"], err["msg"]), loc=loc, input=err["input"])
        elif "ctx" in err:
            detail["ctx"] = err["ctx"]
        details.append(detail)
    for detail in details:
        loc = tuple(detail["loc"])
        if detail["type"] == "missing" and loc in misspelt:
            detail["type"] = _custom("missing_misspelt", f"Field required ({misspelt[loc]!r} looks like a misspelling of it)")
    return ValidationError.from_exception_data(exc.title, details)


#: pydantic's own error types (a custom type such as ours is re-created from its message instead).
_BUILTIN_TYPES = frozenset(typing.get_args(ErrorType))
