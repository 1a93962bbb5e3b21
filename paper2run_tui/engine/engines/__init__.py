"""Container engines as plug-ins: a name → class registry over the Executor port.

Built-in engines are named here as `module:Class` strings and imported only when chosen; other packages add
engines through the `paper2run_tui.engines` entry point group (an entry point's name is the engine's name, its
object an Executor class with `from_config`). A `module:Class` path also works as a name, for engines that are
not installed as packages. The smoke ladder's policy stays above this layer; each engine translates below it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from ..build.base import Executor
    from ..config import RunConfig

ENTRY_POINT_GROUP = "paper2run_tui.engines"

BUILTIN_ENGINES: dict[str, str] = {
    "docker": "paper2run_tui.engine.engines.docker:DockerEngine",
    "podman": "paper2run_tui.engine.engines.podman:PodmanEngine",
}


def plugin_engines() -> dict[str, Any]:
    """Engines other packages register (entry points), by name; a broken plug-in is skipped, not fatal."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def engine_names() -> list[str]:
    return sorted(set(BUILTIN_ENGINES) | set(plugin_engines()))


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not attr:
        module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def engine_class(name: str) -> Any:
    """The class of engine `name`: built-in, entry point, or a `module:Class` path."""
    if name in BUILTIN_ENGINES:
        return _import(BUILTIN_ENGINES[name])
    plugins = plugin_engines()
    if name in plugins:
        return plugins[name].load()
    if ":" in name:
        try:
            return _import(name)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"--engine {name}: cannot import it ({exc})", "give module:Class of an installed module") from None
    raise UserError(f"--engine {name}: no such engine", f"choose one of {', '.join(engine_names())}, or module:Class")


def make_executor(config: RunConfig, *, name: str | None = None, host: str | None = None) -> Executor:
    """The executor of the configured engine (or `name`/`host`, which a pool uses to place a run)."""
    cls = engine_class(name or config.engine)
    return cls.from_config(config, host=host)
