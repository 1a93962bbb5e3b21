"""One resolver for every command and screen: flags > the real environment > the user's config file > the working
folder's `.env` > defaults, each value with where it came from (`paper2run-tui config` prints them).

The user's config file is `config.toml` in the platform config folder (platformdirs; `PAPER2RUN_CONFIG_FILE`
moves it) and holds the same settings as the environment, by their short names (`model = "..."`,
`nvidia_api_key = "..."`, a `[base_image_map]` table, a `[keys]` table of TUI key remaps). A `.env` inside the
repository being run is never read: it belongs to the code under test, not to the person. And a key goes to a base
URL only when that URL is the key's own provider's, or comes from a place the person controls (a flag, the real
environment, their config file): a `.env` in a downloaded checkout cannot redirect the user's key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from .engine.config import DockerLimits, LlmSettings, RunConfig
from .engine.errors import UserError
from .engine.llm.settings import NVIDIA_BASE_URL, NVIDIA_DEFAULT_MODEL, OPENAI_DEFAULT_MODEL

APP_NAME = "paper2run-tui"
CONFIG_FILE_VAR = "PAPER2RUN_CONFIG_FILE"
OPENAI_HOST = "api.openai.com"
#: Setting -> the flag that sets it (for messages and provenance).
FLAG_NAMES = {"out": "--out", "timeout": "--timeout", "max_attempts": "--max-attempts", "approve": "--approve",
              "ca_cert": "--ca-cert", "memory": "--memory", "cpus": "--cpus", "pids": "--pids", "model": "--model",
              "base_url": "--base-url", "api_key": "--api-key", "llm_context": "--llm-context",
              "engine": "--engine", "engine_host": "--engine-host", "engine_tls_dir": "--engine-tls-dir",
              "fix_rounds": "--fix-rounds", "build_fix_rounds": "--build-fix-rounds"}
SECRETS = ("api_key", "nvidia_api_key", "openai_api_key")
#: A key setting -> the base URL host it belongs to (None: no provider of its own).
KEY_HOMES = {"nvidia_api_key": urlparse(NVIDIA_BASE_URL).netloc, "openai_api_key": OPENAI_HOST, "api_key": None}


def _env(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class UserSettings(BaseSettings):
    """Every setting a source can hold: `PAPER2RUN_<NAME>` in the environment and in a `.env`, `<name>` in the config
    file (a few keep their well-known names: NVIDIA_API_KEY, OPENAI_API_KEY, OPENAI_BASE_URL)."""

    model_config = SettingsConfigDict(env_prefix="PAPER2RUN_", extra="ignore", populate_by_name=True)

    out: str | None = None
    timeout: str | None = None
    max_attempts: str | None = None
    approve: str | None = None
    ca_cert: str | None = None
    arxiv_base_url: str | None = None
    cache_dir: str | None = None
    memory: str | None = None
    cpus: str | None = None
    pids: str | None = None
    base_image_map: str | None = None
    allowed_base_images: str | None = None
    model: str | None = None
    base_url: str | None = _env("PAPER2RUN_BASE_URL", "OPENAI_BASE_URL", "base_url")
    api_key: str | None = None
    nvidia_api_key: str | None = _env("NVIDIA_API_KEY", "nvidia_api_key")
    openai_api_key: str | None = _env("OPENAI_API_KEY", "openai_api_key")
    llm_timeout: str | None = None
    llm_context: str | None = None
    keys: str | None = None
    engine: str | None = None
    engine_host: str | None = None
    engine_tls_dir: str | None = None
    download_cache: str | None = None
    fix_rounds: str | None = None
    build_fix_rounds: str | None = None


def _alias_to_field() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, info in UserSettings.model_fields.items():
        names[name.lower()] = name
        names[f"paper2run_{name}".lower()] = name
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update({str(choice).lower(): name for choice in alias.choices})
    return names


@dataclass
class Setting:
    """One effective value and where it came from ("flag --model", "environment NVIDIA_API_KEY", ...)."""

    name: str
    value: Any
    source: str

    @property
    def secret(self) -> bool:
        return self.name in SECRETS

    def shown(self) -> str:
        if self.secret:
            text = str(self.value)
            return f"{text[:4]}… ({len(text)} characters)" if len(text) > 12 else "****"
        if isinstance(self.value, dict):
            return ", ".join(f"{k}={v}" for k, v in self.value.items())
        return str(self.value)


@dataclass
class Resolved:
    """The merged settings, the files that were read, and what was deliberately left out (and why)."""

    values: dict[str, Setting] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str, default: Any = None) -> Any:
        setting = self.values.get(name)
        return default if setting is None else setting.value

    def source(self, name: str) -> str:
        setting = self.values.get(name)
        return setting.source if setting else "default"


class ConfigErrors(UserError):
    """Several configuration mistakes, each on its own line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def user_config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The person's own config file: $PAPER2RUN_CONFIG_FILE, else config.toml in the platform config folder."""
    import platformdirs

    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_FILE_VAR):
        return Path(environ[CONFIG_FILE_VAR]).expanduser()
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


def _local_repo(repo: str | None) -> Path | None:
    if not repo or "://" in repo or (":" in repo and "@" in repo.split(":", 1)[0]):
        return None
    path = Path(repo).expanduser()
    return path.resolve() if path.exists() else None


def trusted_dotenv(cwd: Path, repo: str | None) -> tuple[Path | None, str | None]:
    """The working folder's .env, unless it lies inside the repository being run (then: why it was skipped)."""
    dotenv = cwd / ".env"
    if not dotenv.is_file():
        return None, None
    repo_dir = _local_repo(repo)
    if repo_dir is not None and dotenv.resolve().is_relative_to(repo_dir):
        return None, f"{dotenv} is inside the repository being run: not read (it belongs to the code, not to you)"
    return dotenv, None


def _layer(raw: Mapping[str, Any], label: str, names: dict[str, str], env_label: bool) -> dict[str, Setting]:
    layer: dict[str, Setting] = {}
    for key, value in raw.items():
        name = names.get(str(key).lower())
        if name is None or value is None or value == "":
            continue
        where = f"{label} {key if str(key).isupper() else 'PAPER2RUN_' + name.upper()}" if env_label else label
        layer[name] = Setting(name, value, where)
    return layer


def resolve(flags: Mapping[str, Any] | None = None, *, repo: str | None = None, cwd: Path | None = None) -> Resolved:
    """Merge every source, highest first: flags, the real environment, the config file, the working folder's .env."""
    names = _alias_to_field()
    resolved = Resolved()
    layers: list[dict[str, Setting]] = []
    try:
        dotenv, skipped = trusted_dotenv(cwd or Path.cwd(), repo)
        if skipped:
            resolved.notes.append(skipped)
        if dotenv is not None:
            resolved.files.append(f".env {dotenv}")
            layers.append(_layer(DotEnvSettingsSource(UserSettings, env_file=dotenv)(), f".env {dotenv}", names, False))
        config_file = user_config_file()
        if config_file.is_file():
            resolved.files.append(f"config file {config_file}")
            raw = TomlConfigSettingsSource(UserSettings, toml_file=config_file)()
            layers.append(_layer(raw, f"config file {config_file}", names, False))
        elif os.environ.get(CONFIG_FILE_VAR):
            raise UserError(f"{CONFIG_FILE_VAR}={config_file}: no such file", "create it, or unset the variable")
        layers.append(_layer(EnvSettingsSource(UserSettings)(), "environment", names, True))
    except (SettingsError, ValueError, OSError) as exc:
        raise UserError(f"cannot read the configuration: {exc}", "fix the file named above") from None
    flag_layer = {k: Setting(k, v, f"flag {FLAG_NAMES.get(k, '--' + k.replace('_', '-'))}")
                  for k, v in (flags or {}).items() if v is not None}
    layers.append(flag_layer)
    for layer in layers:  # lowest first, so a higher layer overwrites
        resolved.values.update(layer)
    return resolved


def parse_image_map(value: str | Mapping[str, str]) -> dict[str, str]:
    """'3.11=mirror/python:3.11-slim,3.9=...' (or a TOML table) -> {'3.11': 'mirror/python:3.11-slim', ...}."""
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        version, sep, image = item.partition("=")
        if not sep or not version.strip() or not image.strip():
            raise ValueError(f"expected VERSION=IMAGE, got {item!r}")
        mapping[version.strip()] = image.strip()
    return mapping


def _check_url(url: str, where: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UserError(f"the LLM base URL {url!r} ({where}) is not an http(s) URL",
                        "set --base-url / PAPER2RUN_BASE_URL like https://integrate.api.nvidia.com/v1")
    return url.rstrip("/")


def _trusted_source(source: str) -> bool:
    return source.startswith(("flag", "environment", "config file", "run folder"))


def llm_settings(resolved: Resolved) -> LlmSettings:
    """The endpoint, with the key routed: a key goes only to its own provider, or to a base URL the person set."""
    key_name = next((n for n in ("api_key", "nvidia_api_key", "openai_api_key") if resolved.get(n)), None)
    key = str(resolved.get(key_name)) if key_name else None
    url_setting = resolved.values.get("base_url")
    url = _check_url(str(url_setting.value), url_setting.source) if url_setting else None
    model = resolved.get("model")
    if key and not url:
        url = NVIDIA_BASE_URL if key_name == "nvidia_api_key" else None
    if key and url and url_setting and not _trusted_source(url_setting.source):
        own_home = KEY_HOMES.get(key_name or "") == urlparse(url).netloc
        same_file = resolved.source(key_name or "") == url_setting.source
        if not (own_home or same_file):
            resolved.notes.append(
                f"the key from {resolved.source(key_name or '')} is not sent to {url} (a base URL from "
                f"{url_setting.source}): set the base URL with a flag, the environment or your config file to send it")
            key, key_name = None, None
    if (key or url) and not model:
        model = NVIDIA_DEFAULT_MODEL if url == NVIDIA_BASE_URL else (OPENAI_DEFAULT_MODEL if url is None else None)
        if model is None:
            raise UserError(f"no model is set for the endpoint {url}", "set --model or PAPER2RUN_MODEL")
    if model and not (key or url):
        if resolved.source("model").startswith("flag"):
            raise UserError(f"--model {model} needs an endpoint: no API key and no base URL are set",
                            "set NVIDIA_API_KEY / OPENAI_API_KEY, or --base-url for a local server")
        resolved.notes.append(f"model {model} ({resolved.source('model')}) unused: no API key and no base URL")
        model = None
    timeout = resolved.get("llm_timeout")
    try:
        timeout_s = float(timeout) if timeout else 120.0
    except ValueError:
        raise UserError(f"PAPER2RUN_LLM_TIMEOUT={timeout!r} is not a number of seconds") from None
    return LlmSettings(api_key=SecretStr(key) if key else None, base_url=url, model=model, timeout_s=timeout_s,
                       key_name=key_name, context_tokens=context_tokens(resolved))


def context_tokens(resolved: Resolved) -> int | None:
    """PAPER2RUN_LLM_CONTEXT / --llm-context / `llm_context` in the config file: the endpoint's context window."""
    value = resolved.get("llm_context")
    if value in (None, ""):
        return None
    try:
        tokens = int(str(value).strip())
    except ValueError:
        tokens = 0
    if tokens < 256:
        raise UserError(f"llm_context={value!r} ({resolved.source('llm_context')}) is not a context window in tokens",
                        "give the model server's window, e.g. PAPER2RUN_LLM_CONTEXT=4096 (256 or more)")
    return tokens


def fix_rounds(resolved: Resolved) -> dict[str, int]:
    """`implement`'s fix rounds (--fix-rounds / PAPER2RUN_FIX_ROUNDS / `fix_rounds` in the config file, and the same
    for build_fix_rounds): how often the citation check's, or the build's, errors go back to the model. Checked
    against ImplementConfig's own fields, so the limits live in one place."""
    from typing import Annotated

    from pydantic import TypeAdapter

    from .engine.implement.config import ImplementConfig

    out: dict[str, int] = {}
    errors: list[str] = []
    for name in ("fix_rounds", "build_fix_rounds"):
        value = resolved.get(name)
        if value in (None, ""):
            continue
        rounds = TypeAdapter(Annotated[int, *ImplementConfig.model_fields[name].metadata])
        try:
            out[name] = rounds.validate_python(str(value).strip(), strict=False)
        except ValidationError as exc:
            errors.append(f"{FLAG_NAMES[name]} ({resolved.source(name)}): {value!r} is not a number of rounds "
                          f"({exc.errors()[0]['msg']})")
    if errors:
        raise ConfigErrors(errors)
    return out


def _field_name(loc: tuple[Any, ...]) -> str:
    key = ".".join(str(p) for p in loc)
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def _problems(exc: ValidationError, resolved: Resolved | None = None) -> list[str]:
    """One line per invalid setting: its flag, where a value not given as a flag came from, and pydantic's message
    without its 'Value error, ' prefix (`error: --memory: not a memory size: 'abc' (e.g. 512m, 4g)`)."""
    lines = []
    for e in exc.errors():
        name = _field_name(tuple(e["loc"]))
        where = resolved.source(str(e["loc"][-1])) if resolved is not None and e["loc"] else "flag"
        if where != "default" and not where.startswith("flag"):
            name += f" (from {where})"
        lines.append(f"{name}: {str(e['msg']).removeprefix('Value error, ')}")
    return lines


#: Settings that go into RunConfig as they are (after validation by it).
RUN_SETTINGS = ("out", "timeout", "max_attempts", "approve", "ca_cert", "arxiv_base_url", "cache_dir", "engine",
                "engine_host", "engine_tls_dir", "download_cache")


def build_run_config(flags: Mapping[str, Any], resolved: Resolved | None = None) -> RunConfig:
    """The RunConfig of a new run: the flags over every other source; every mistake reported at once."""
    resolved = resolved if resolved is not None else resolve(flags, repo=flags.get("repo"))
    errors: list[str] = []
    values: dict[str, Any] = {k: v for k, v in flags.items() if v is not None and k not in UserSettings.model_fields}
    values.update({k: resolved.get(k) for k in RUN_SETTINGS if resolved.get(k) is not None})
    limits = {k: resolved.get(k) for k in ("memory", "cpus", "pids") if resolved.get(k) is not None}
    values.pop("network", None)
    if values.pop("no_download_cache", None):
        values["download_cache"] = False
    if flags.get("network"):
        limits["network"] = True
    if resolved.get("base_image_map"):
        try:
            values["base_image_map"] = parse_image_map(resolved.get("base_image_map"))
        except ValueError as exc:
            errors.append(f"base_image_map ({resolved.source('base_image_map')}): {exc}")
    try:
        values["llm"] = llm_settings(resolved)
    except UserError as err:
        errors.append(str(err))
    try:
        values["limits"] = DockerLimits.model_validate(limits)
    except ValidationError as exc:
        errors += _problems(exc, resolved)
    if values.get("ca_cert") is not None:
        ca = Path(values["ca_cert"]).expanduser()
        if not ca.is_file():
            errors.append(f"--ca-cert: {ca} does not exist — give the path of a PEM CA bundle")
        values["ca_cert"] = ca
    allowed = resolved.get("allowed_base_images") or ""
    allowed_list = list(allowed) if isinstance(allowed, list) else str(allowed).split(",")
    allowed_list += list(values.pop("allow_base_image", None) or [])
    if any(i.strip() for i in allowed_list):
        values["allowed_base_images"] = [i.strip() for i in allowed_list if i.strip()]
    if values.get("engine"):
        from .engine.engines import engine_class

        try:
            engine_class(str(values["engine"]))
        except UserError as err:
            errors.append(f"{err} ({resolved.source('engine')})")
    if errors:
        raise ConfigErrors(errors)
    values["sources"] = {name: setting.source for name, setting in resolved.values.items()}
    values["notes"] = list(resolved.notes)
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigErrors(_problems(exc, resolved)) from None


def out_folder(flag: Path | None) -> Path:
    """The runs folder of the browser and the home screen: --out, else the resolved PAPER2RUN_OUT, else runs/."""
    if flag is not None:
        return flag
    return Path(resolve().get("out") or "runs").expanduser()


def describe(resolved: Resolved) -> list[str]:
    """`paper2run-tui config`: one line per effective value and its source, secrets masked."""
    config_file = user_config_file()
    lines = ["sources, highest first: flags > environment > config file > .env of the working folder > defaults",
             f"config file: {config_file}{'' if config_file.is_file() else ' (not there: create it to keep settings)'}"]
    lines += [f"read: {f}" for f in resolved.files]
    width = max(len(n) for n in UserSettings.model_fields)
    for name in UserSettings.model_fields:
        setting = resolved.values.get(name)
        if setting is not None:
            lines.append(f"{name:<{width}}  {setting.shown():<36}  {setting.source}")
    try:
        llm = llm_settings(resolved)
    except UserError as err:
        lines.append(f"{'LLM':<{width}}  error: {err}")
    else:
        if llm.configured:
            key = f"key from {resolved.source(llm.key_name)}" if llm.key_name else "no key sent"
            lines.append(f"{'LLM':<{width}}  {llm.model} at {llm.base_url or 'https://' + OPENAI_HOST + '/v1'}, {key}")
        else:
            lines.append(f"{'LLM':<{width}}  none: the deterministic planner and the known-failure rules do the work")
    lines += [f"note: {n}" for n in resolved.notes]
    return lines

#: Flags a resume, a rerun or `implement` may give on top of the stored configuration.
OVERRIDES = ("approve", "max_attempts", "timeout", "memory", "cpus", "pids", "out")


def config_from_run(run_dir: Path, flags: Mapping[str, Any] | None = None) -> RunConfig:
    """A resume's or a rerun's configuration: the old run's config.json, the flags given on top of it, and the key
    of the setting the old run sent (read again from the current sources: keys are never stored)."""
    from .engine.resume import key_was_sent, stored_config

    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    stored = stored_config(run_dir)
    here = f"run folder {run_dir / 'config.json'}"
    resolved = resolve(flags)
    values = {k: v for k, v in stored.items() if k not in ("sources", "notes", "llm", "limits")}
    values["out"] = run_dir.parent
    values.update({k: v for k, v in flags.items() if k in RUN_SETTINGS})
    limits = {**(stored.get("limits") or {}), **{k: flags[k] for k in ("memory", "cpus", "pids") if k in flags}}
    kept = stored.get("llm") or {}
    notes: list[str] = []
    if "model" in flags or "base_url" in flags:
        for name in ("model", "base_url"):
            if kept.get(name) and name not in flags:
                resolved.values[name] = Setting(name, kept[name], here)
        llm = llm_settings(resolved)
    else:
        key_name = kept.get("key_name")
        key = resolved.get(key_name) if key_name and key_was_sent(run_dir) else None
        if key_name and key_was_sent(run_dir) and not key:
            notes.append(f"the run sent the key of {key_name}, which is not set now: resuming without a key")
        llm = LlmSettings(model=kept.get("model"), base_url=kept.get("base_url"),
                          api_key=SecretStr(str(key)) if key else None, key_name=key_name if key else None,
                          timeout_s=kept.get("timeout_s", 120.0),
                          context_tokens=context_tokens(resolved) or kept.get("context_tokens"))
    values["llm"] = llm
    try:
        values["limits"] = DockerLimits.model_validate(limits)
    except ValidationError as exc:
        raise ConfigErrors(_problems(exc, resolved)) from None
    values["sources"] = {**{k: here for k in stored if k not in ("sources", "notes")},
                         **{k: resolved.source(k) for k in flags}}
    values["notes"] = notes + list(resolved.notes)
    values.pop("run_id", None)
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigErrors(_problems(exc, resolved)) from None
