"""What an engine can do, so preflight (and `paper2run-tui engines`) can say it before a build starts."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EngineCapabilities(BaseModel):
    engine: str
    host: str
    version: str = ""
    reachable: bool = True
    gpu: bool = Field(default=False, description="a GPU can be given to a container (NVIDIA runtime or CDI)")
    buildkit: bool = Field(default=False, description="the build API used here builds with BuildKit")
    cache_mounts: bool = Field(default=False, description="RUN --mount=type=cache works in its builds")
    limits: list[str] = Field(default_factory=list, description="container limits it enforces")
    progress_format: str = Field(default="docker-classic", description="the build progress parser it needs")
    error: str | None = None

    def line(self) -> str:
        if not self.reachable:
            return f"{self.engine} at {self.host}: not reachable ({self.error})"
        yes = lambda flag: "yes" if flag else "no"  # noqa: E731
        return (f"{self.engine} {self.version} at {self.host}: GPU {yes(self.gpu)}, BuildKit {yes(self.buildkit)}, "
                f"cache mounts {yes(self.cache_mounts)}, limits {', '.join(self.limits) or 'none'}, "
                f"progress {self.progress_format}")
