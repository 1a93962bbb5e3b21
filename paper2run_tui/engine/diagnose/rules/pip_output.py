"""Where in pip's output a failure happened: inside a build hook that pip ran in an isolated build environment
(PEP 517: "Getting requirements to build wheel", "Preparing metadata (pyproject.toml)", "Building wheel ...
(pyproject.toml)"), or at run time. Told from the structure pip prints around a subprocess's output
(`× ... did not run successfully.` then `╰─> [N lines of output]` ... `[end of output]`), not from a phrase of the
error itself: a module missing there is missing from the build environment, which nothing installed into the
image reaches."""

from __future__ import annotations

import re

_BLOCK = re.compile(r"^\s*× (?P<what>[^\n]*?) did not run successfully\.[^\n]*\n(?:[^\n]*\n){0,3}?\s*╰─> \[\d+ lines of "
                    r"output\]\n(?P<body>[\s\S]*?)^\s*\[end of output\]", re.MULTILINE)
#: The hooks pip runs in the isolated environment (legacy `setup.py egg_info`/`bdist_wheel` run in the image's).
_ISOLATED_HOOKS = re.compile(r"Getting requirements to build (?:wheel|editable)|\(pyproject\.toml\)")


def isolated_build_hook(text: str, position: int) -> str | None:
    """The hook ("Getting requirements to build wheel", ...) whose captured output holds `position`, when pip ran it
    in an isolated build environment; None when the position is outside any such block."""
    for block in _BLOCK.finditer(text):
        if block.start("body") <= position < block.end("body") and _ISOLATED_HOOKS.search(block.group("what")):
            return block.group("what").strip()
    return None
