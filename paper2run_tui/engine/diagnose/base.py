"""The diagnoser port: a failed attempt in, stop or a complete repair plan out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..contracts import DiagnosisDecision, EnvPlan, PaperInfo, RepoFacts
from ..contracts.metadata import AttemptOutcome
from ..contracts.plan import SmokeRungName
from ..contracts.policy import PolicyContext
from ..ports import CancelToken, EventSink


@dataclass
class FailedAttempt:
    """What one attempt did and how it failed; its logs are files in attempts/NN/."""

    number: int
    plan: EnvPlan
    dockerfile: str
    outcome: AttemptOutcome
    attempt_dir: Path
    exit_code: int | None = None
    failing_step: str | None = None
    error: str | None = None
    #: The highest rung the image still passed when the smoke command failed (the run's floor), and its image.
    floor_rung: SmokeRungName | None = None
    image_tag: str | None = None
    #: A rung above the smoke command that failed while the smoke command passed (tests, toy run): the attempt is
    #: diagnosed on its output (attempts/NN/rung_<rung>.log), its plan aimed at that rung.
    failed_rung: SmokeRungName | None = None

    def log_text(self, name: str, max_bytes: int = 8 * 1024 * 1024) -> str:
        """Read attempts/NN/<name>.log (e.g. 'build_stdout'); the tail if it is huge."""
        path = self.attempt_dir / f"{name}.log"
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                if size > max_bytes:
                    fh.seek(size - max_bytes)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def all_logs(self) -> str:
        return "\n".join(
            self.log_text(n) for n in ("build_stdout", "build_stderr", "smoke_stdout", "smoke_stderr")
        )


@dataclass
class DiagnosisContext:
    facts: RepoFacts
    repo_dir: Path
    attempt: FailedAttempt
    #: Earlier failed attempts, oldest first.
    history: list[FailedAttempt] = field(default_factory=list)
    paper: PaperInfo | None = None
    rejected: list[tuple[EnvPlan, str]] = field(default_factory=list)
    local_images: list[str] = field(default_factory=list)
    base_image_map: dict[str, str] = field(default_factory=dict)
    attempts_left: int = 0
    #: Filled by the rule pass before the LLM runs, so the model sees what matched.
    matched_rules: list[str] = field(default_factory=list)
    #: The run's plan policy settings: a model's repair is held to the same policy as every plan.
    policy: PolicyContext | None = None
    #: Plans that failed in the run this one resumes: tried, though not in this run's history.
    earlier_failed: list[EnvPlan] = field(default_factory=list)
    #: Pull an image onto the engine; True when it is there after (None: the repairs use local images only).
    pull_image: Callable[[str], bool] | None = None

    def tried_fingerprints(self) -> set[str]:
        return ({a.plan.fingerprint() for a in [*self.history, self.attempt]}
                | {p.fingerprint() for p, _ in self.rejected} | {p.fingerprint() for p in self.earlier_failed})


class Diagnoser(Protocol):
    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision: ...
