"""Prompt templates (files in prompts/), rendered with StrictUndefined.

Text from a repository, a paper or a build log is data, never instructions: templates wrap it with the
`untrusted` filter, which fences it between markers the system prompts explain, and neutralises any marker inside
it, so a README cannot close the fence and speak as the prompt."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import jinja2

PROMPTS = Path(__file__).parent / "prompts"
#: Steps keep their prompts beside their code; the loader looks in each folder.
PROMPT_DIRS = [PROMPTS, Path(__file__).parent.parent / "implement" / "prompts"]


_MARKER = re.compile(r"<\s*(/?)\s*untrusted", re.IGNORECASE)


def untrusted(text: object, source: str = "repository") -> str:
    """`text` fenced as data from `source`; markers inside it are broken so they cannot end the fence."""
    body = _MARKER.sub(lambda m: "<" + m.group(1) + "untrusted\u200b", str(text))
    return f'<untrusted source="{source}">\n{body}\n</untrusted>'


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(p) for p in PROMPT_DIRS]),
                             undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["untrusted"] = untrusted
    return env


def render_prompt(name: str, **values: object) -> str:
    return _env().get_template(f"{name}.md.j2").render(**values)
