"""The run folder: `runs/<repo>-<UTC>/` in the reference layout, plus events.jsonl.

    repo/  paper.json  repo.json  repo_facts.json  plan.json  Dockerfile  INSTRUCTIONS.md
    image.txt  report.md  metadata.json  run.log  events.jsonl  logs/  attempts/NN/
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UserError
from .atomic import write_json_atomic, write_text_atomic

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    cleaned = _SAFE.sub("-", name).strip("-.")
    return cleaned[:60] or "repo"


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


class RunFolder:
    """Paths and atomic writers for one run. Creating it checks that `out` is writable."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(cls, out: Path, repo_name: str, run_id: str | None = None) -> RunFolder:
        out = out.expanduser()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the output folder {out}: {exc.strerror}", "pass a writable --out") from exc
        if not os.access(out, os.W_OK | os.X_OK):
            raise UserError(f"the output folder {out} is not writable", "pass a writable --out")
        base = run_id or f"{slug(repo_name)}-{utc_stamp()}"
        root, n = out / base, 1
        while True:
            try:
                root.mkdir(parents=False)
                break
            except FileExistsError:
                n += 1
                root = out / f"{base}-{n}"
            except OSError as exc:
                raise UserError(f"cannot create the run folder {root}: {exc.strerror}", "pass a writable --out") from exc
        (root / "logs").mkdir()
        (root / "attempts").mkdir()
        return cls(root)

    @property
    def run_id(self) -> str:
        return self.root.name

    # --- well-known paths --------------------------------------------------------
    @property
    def repo_dir(self) -> Path:
        return self.root / "repo"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def events_path(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def run_log_path(self) -> Path:
        return self.root / "run.log"

    def path(self, name: str) -> Path:
        return self.root / name

    def attempt_dir(self, attempt: int, create: bool = True) -> Path:
        d = self.root / "attempts" / f"{attempt:02d}"
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def attempt_numbers(self) -> list[int]:
        base = self.root / "attempts"
        if not base.is_dir():
            return []
        return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())

    # --- writers -------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> Path:
        target = self.root / name
        write_json_atomic(target, data)
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.root / name
        write_text_atomic(target, text)
        return target
