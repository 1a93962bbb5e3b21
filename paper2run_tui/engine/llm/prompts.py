"""Prompt templates (files in prompts/), rendered with StrictUndefined."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

PROMPTS = Path(__file__).parent / "prompts"
#: Steps keep their prompts beside their code; the loader looks in each folder.
PROMPT_DIRS = [PROMPTS, Path(__file__).parent.parent / "implement" / "prompts"]


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader([str(p) for p in PROMPT_DIRS]), undefined=jinja2.StrictUndefined,
                              autoescape=False, keep_trailing_newline=True)


def render_prompt(name: str, **values: object) -> str:
    return _env().get_template(f"{name}.md.j2").render(**values)
