"""Inline validation of the new-run form: one line per field saying what is wrong and what to do."""

from __future__ import annotations

import os
import re
from pathlib import Path

from textual.validation import ValidationResult, Validator

from ..engine.errors import UserError

_URL = re.compile(r"^(https?|git|ssh|file)://\S+$")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:\S+$")
_ARXIV_ID = re.compile(r"^(arxiv:)?(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?/\d{7})(v\d+)?$", re.IGNORECASE)
PAPER_SUFFIXES = (".pdf", ".md", ".markdown")


def repo_problem(value: str) -> str | None:
    value = value.strip()
    if not value:
        return "required: a GitHub URL, any git URL, or a local folder"
    if _URL.match(value) or _SCP.match(value):
        problem = None
    elif not Path(value).expanduser().exists():
        return f"no such folder: {value} — give an existing local path or a git URL"
    elif not Path(value).expanduser().is_dir():
        return f"{value} is a file — give the repository's folder or a git URL"
    else:
        problem = None
    try:
        from ..engine.acquire.repo import parse_repo_spec
    except ImportError:  # the acquire step ships separately; the checks above still hold
        return problem
    try:
        parse_repo_spec(value)
    except UserError as err:
        return str(err)
    return problem


def paper_problem(value: str) -> str | None:
    value = value.strip()
    if not value or _ARXIV_ID.match(value):
        return None
    if re.match(r"^https?://\S+$", value):
        from ..engine.acquire.arxiv import arxiv_id_of

        base = os.environ.get("PAPER2RUN_ARXIV_BASE_URL", "https://arxiv.org")
        if arxiv_id_of(value) or arxiv_id_of(value, base):
            return None
        return "only arXiv links (…/abs/ID or …/pdf/ID) are downloaded: save the paper and give its file"
    path = Path(value).expanduser()
    if path.suffix.lower() not in PAPER_SUFFIXES:
        return "a paper is a .pdf, a .md/.markdown file, an arXiv id (2101.00001) or a URL"
    if not path.is_file():
        return f"no such file: {value}"
    return None


def ref_problem(value: str) -> str | None:
    value = value.strip()
    if value and (any(c.isspace() for c in value) or value.startswith("-")):
        return "a ref is a branch, tag or commit: no spaces, not starting with '-'"
    return None


def model_problem(value: str) -> str | None:
    if any(c.isspace() for c in value.strip()):
        return "a model name has no spaces, e.g. deepseek-ai/deepseek-v4-flash"
    return None


def int_problem(value: str, low: int, high: int | None, what: str) -> str | None:
    try:
        number = int(value.strip())
    except ValueError:
        return f"{what}: a whole number"
    if number < low or (high is not None and number > high):
        return f"{what}: between {low} and {high}" if high is not None else f"{what}: at least {low}"
    return None


class CheckWith(Validator):
    """A textual Validator around one of the `*_problem` functions above."""

    def __init__(self, check: object) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        problem = self.check(value)  # type: ignore[operator]
        return self.failure(problem) if problem else self.success()
