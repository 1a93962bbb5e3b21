"""Build output formats, in one place: each engine's builder prints its steps its own way.

Docker's classic builder says `Step 3/7 : RUN ...` and ` ---> Using cache`; buildah (Podman's builder, also behind
its Docker-compatible API) says `STEP 3/7: RUN ...` and `--> Using cache <id>`. The build stream and the
diagnosers read steps through this module only, so an engine with another format adds a parser here instead of a
second regex somewhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StepSeen:
    """A step header: which step of how many, and its instruction."""

    step: int
    total: int
    instruction: str


@dataclass(frozen=True)
class CacheHit:
    """The step in progress was taken from the cache."""


class ProgressParser(Protocol):
    name: str

    def parse(self, line: str) -> StepSeen | CacheHit | None:
        """What a line of build output says about progress, if anything."""
        ...


class _RegexParser:
    def __init__(self, name: str, step: str, cache: str) -> None:
        self.name = name
        self.step = re.compile(step)
        self.cache = re.compile(cache)

    def parse(self, line: str) -> StepSeen | CacheHit | None:
        m = self.step.match(line)
        if m:
            return StepSeen(int(m.group(1)), int(m.group(2)), m.group(3))
        if self.cache.match(line):
            return CacheHit()
        return None


DOCKER_CLASSIC = _RegexParser("docker-classic", r"^Step (\d+)/(\d+) : (.*)$", r"^\s*---> Using cache\s*$")
BUILDAH = _RegexParser("buildah", r"^STEP (\d+)/(\d+): (.*)$", r"^\s*--> Using cache\b")

PARSERS: dict[str, ProgressParser] = {p.name: p for p in (DOCKER_CLASSIC, BUILDAH)}

#: A step header of any known format, for reading a recorded build log (the diagnosers).
STEP_HEADER = re.compile(r"^(?:Step \d+/\d+ : |STEP \d+/\d+: )", re.MULTILINE)


def parser_named(name: str) -> ProgressParser:
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"no build progress parser {name!r}; known: {', '.join(sorted(PARSERS))}") from None
