"""DockerfileInputs: what the Dockerfile depends on besides the plan, so a client (the gate) can re-render
an edited plan exactly as the engine would."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DockerfileInputs(BaseModel):
    repo_dir: str = Field(
        default="", description="The run's checkout: the files the install steps name are copied from it ('' none)"
    )
    repo_name: str = ""
    attempt: int = 1
    manifest_sources: list[str] = Field(default_factory=list, description="Dependency manifests the analysis found")
    ca_bundle: bool = False
    proxy_args: list[str] = Field(default_factory=list, description="Build ARG names (HTTP_PROXY, …)")
