"""ImplementConfig: paper to code, then (optionally) the same build-and-smoke loop."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..config import ApproveMode, DockerLimits, LlmSettings


class ImplementConfig(BaseModel):
    paper: str
    out: Path = Path("runs")
    framework: Literal["pytorch", "jax", "tensorflow"] = "pytorch"
    mode: Literal["minimal", "full", "educational"] = "minimal"
    llm: LlmSettings = Field(default_factory=LlmSettings)
    run: bool = True
    timeout: int = Field(default=900, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    approve: ApproveMode = "auto"
    arxiv_base_url: str = "https://arxiv.org"
    cache_dir: Path | None = None
    no_ca: bool = False
    limits: DockerLimits = Field(default_factory=DockerLimits)
    base_image_map: dict[str, str] = Field(default_factory=dict)
    #: Rounds in which the citation check's violations go back to the model, per generation.
    fix_rounds: int = Field(default=2, ge=0, le=5)
    #: Rounds in which a failed build or shape check goes back to the model (each one builds again).
    build_fix_rounds: int = Field(default=2, ge=0, le=5)
