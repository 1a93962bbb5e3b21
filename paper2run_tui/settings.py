"""Turn flags, the environment and `.env` into a validated RunConfig, with one clear line per mistake.

Precedence: a flag beats an environment variable, which beats `.env` in the current folder, which beats the
default. Variable names follow the reference design (NVIDIA_API_KEY, PAPER2RUN_MODEL, PAPER2RUN_BASE_URL).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from .engine.config import DockerLimits, RunConfig
from .engine.errors import UserError

#: Environment variables read for run settings (the LLM ones are read by engine/llm/settings.py).
ENV_VARS: dict[str, str] = {
    "PAPER2RUN_OUT": "out",
    "PAPER2RUN_TIMEOUT": "timeout",
    "PAPER2RUN_MAX_ATTEMPTS": "max_attempts",
    "PAPER2RUN_APPROVE": "approve",
    "PAPER2RUN_CA_CERT": "ca_cert",
    "PAPER2RUN_ARXIV_BASE_URL": "arxiv_base_url",
    "PAPER2RUN_CACHE_DIR": "cache_dir",
}
LIMIT_VARS = {"PAPER2RUN_MEMORY": "memory", "PAPER2RUN_CPUS": "cpus", "PAPER2RUN_PIDS": "pids"}


class ConfigErrors(UserError):
    """Several configuration mistakes, each on its own line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def load_environment(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over `.env` in the working folder (the environment wins)."""
    dotenv_path = (cwd or Path.cwd()) / ".env"
    values: dict[str, str] = {}
    if dotenv_path.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ)
    return values


def parse_image_map(text: str) -> dict[str, str]:
    """'3.11=mirror/python:3.11-slim,3.9=...' -> {'3.11': 'mirror/python:3.11-slim', ...}."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        version, sep, image = item.partition("=")
        if not sep or not version.strip() or not image.strip():
            raise ValueError(f"expected VERSION=IMAGE, got {item!r}")
        mapping[version.strip()] = image.strip()
    return mapping


def _field_name(loc: tuple[Any, ...]) -> str:
    names = {"repo": "--repo", "timeout": "--timeout", "max_attempts": "--max-attempts", "approve": "--approve",
             "out": "--out", "paper": "--paper", "ca_cert": "--ca-cert"}
    key = ".".join(str(p) for p in loc)
    return names.get(key, key.replace("_", "-"))


def build_run_config(flags: Mapping[str, Any], env: Mapping[str, str]) -> RunConfig:
    """Merge flags over env; validate everything and report every mistake at once."""
    from .engine.llm.settings import llm_settings_from_env

    errors: list[str] = []
    values: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if env.get(var):
            values[key] = env[var]
    limits: dict[str, Any] = {key: env[var] for var, key in LIMIT_VARS.items() if env.get(var)}
    for key in ("memory", "cpus", "pids"):
        if flags.get(key) is not None:
            limits[key] = flags[key]
    for key, value in flags.items():
        if value is not None and key not in ("memory", "cpus", "pids", "model", "base_url", "api_key",
                                             "allow_base_image"):
            values[key] = value
    if env.get("PAPER2RUN_BASE_IMAGE_MAP"):
        try:
            values["base_image_map"] = parse_image_map(env["PAPER2RUN_BASE_IMAGE_MAP"])
        except ValueError as exc:
            errors.append(f"PAPER2RUN_BASE_IMAGE_MAP: {exc}")
    try:
        values["llm"] = llm_settings_from_env(
            env, model=flags.get("model"), base_url=flags.get("base_url"), api_key=flags.get("api_key")
        )
    except UserError as err:
        errors.append(str(err))
    try:
        values["limits"] = DockerLimits.model_validate(limits)
    except ValidationError as exc:
        errors += [f"--{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    if values.get("ca_cert") is not None:
        ca = Path(values["ca_cert"]).expanduser()
        if not ca.is_file():
            errors.append(f"--ca-cert: {ca} does not exist — give the path of a PEM CA bundle")
        values["ca_cert"] = ca
    allowed = [i.strip() for i in env.get("PAPER2RUN_ALLOWED_BASE_IMAGES", "").split(",") if i.strip()]
    allowed += list(flags.get("allow_base_image") or [])
    if allowed:
        values["allowed_base_images"] = allowed
    if errors:
        raise ConfigErrors(errors)
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigErrors([f"{_field_name(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]) from None
