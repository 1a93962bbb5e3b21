"""The batch list: one repository a line (`URL_or_path [ref=REF] [paper=PAPER]`, or `repo ref paper` by position),
or a CSV with a `repo` column (and optional `ref`, `paper`). Blank lines and `#` comments are ignored."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from pydantic import BaseModel

from ..errors import UserError


class BatchItem(BaseModel):
    key: str
    repo: str
    ref: str | None = None
    paper: str | None = None


def _slug(repo: str) -> str:
    name = repo.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1] or "repo"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:60] or "repo"


def parse_list(text: str, source: str = "the list") -> list[BatchItem]:
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    rows: list[tuple[int, dict[str, str | None]]] = []
    if "," in first and "repo" in [c.strip().lower() for c in first.split(",")]:
        reader = csv.DictReader(io.StringIO(text))
        for n, row in enumerate(reader, start=2):
            clean = {(k or "").strip().lower(): (v or "").strip() or None for k, v in row.items()}
            if (clean.get("repo") or "").startswith("#"):
                continue
            rows.append((n, clean))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            fields: dict[str, str | None] = {}
            positional: list[str] = []
            for part in line.split():
                key, sep, value = part.partition("=")
                if sep and key in ("ref", "paper", "repo"):
                    fields[key] = value or None
                elif sep and key.isidentifier() and "/" not in key:
                    raise UserError(f"{source} line {n}: unknown field {key!r}", "use ref=REF and paper=PAPER")
                else:
                    positional.append(part)
            for name, value in zip(("repo", "ref", "paper"), positional, strict=False):
                fields.setdefault(name, value)
            if len(positional) > 3:
                raise UserError(f"{source} line {n}: too many fields", "one repository a line: REPO [REF] [PAPER]")
            rows.append((n, fields))
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for n, fields in rows:
        repo = fields.get("repo")
        if not repo:
            raise UserError(f"{source} line {n}: no repository", "each line starts with a URL or a path")
        base = _slug(repo) + (f"@{fields['ref']}" if fields.get("ref") else "")
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}-{seen[base]}"
        items.append(BatchItem(key=key, repo=repo, ref=fields.get("ref"), paper=fields.get("paper")))
    if not items:
        raise UserError(f"{source} names no repository", "one URL or path a line, or a CSV with a repo column")
    return items


def read_list(path: Path) -> list[BatchItem]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read the batch list {path}: {exc.strerror}", "give a file of repositories") from None
    return parse_list(text, str(path))
