"""RunConfig: everything one run needs, validated. Clients build it from flags, env and .env."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

ApproveMode = Literal["ask", "auto", "never"]


def default_cache_dir() -> Path:
    """Where downloads (arXiv papers, and the builds' pip and apt files) are cached when no --cache-dir is given."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("paper2run-tui"))


class LlmSettings(BaseModel):
    """An OpenAI-compatible endpoint. `api_key` None with a base_url = a local server that needs no key."""

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    #: Per answer; with the length-capped schemas a plan or diagnosis needs well under this.
    max_tokens: int = Field(default=2048, gt=0)
    #: The endpoint's context window in tokens (PAPER2RUN_LLM_CONTEXT); None: learned from the server (llm/budget.py).
    context_tokens: int | None = Field(default=None, ge=256)
    key_name: str | None = Field(
        default=None, description="Which setting the key came from (nvidia_api_key, ...): a resume reads it again"
    )

    @property
    def configured(self) -> bool:
        """A key, or an explicit base URL (local servers such as vLLM or Ollama need no key)."""
        return bool(self.api_key and self.api_key.get_secret_value()) or bool(self.base_url)


class DockerLimits(BaseModel):
    memory: str = Field(default="4g", description="Memory limit of build and smoke containers (swap: none on top)")
    cpus: float = Field(default=2.0, gt=0)
    pids: int = Field(default=1024, gt=0)
    network: bool = Field(default=False, description="Smoke container gets network access (--network; builds "
                                                     "always have it)")
    write_cap: str = Field(default="1g", description="Most a smoke container may write to its own filesystem")

    @field_validator("memory", "write_cap")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        from .build.limits import parse_memory

        parse_memory(value)  # `--memory abc` is refused here, not after the build
        return value


class RunConfig(BaseModel):
    repo: str = Field(description="GitHub URL, any git URL, or a local path")
    paper: str | None = Field(default=None, description=".pdf, .md/.markdown, an arXiv id or URL")
    ref: str | None = None
    out: Path = Path("runs")
    timeout: int = Field(default=900, gt=0, description="Smoke-run timeout per attempt, seconds")
    build_timeout: int = Field(default=3600, gt=0, description="Build timeout per attempt, seconds")
    max_attempts: int = Field(default=3, ge=1, le=20)
    dry_run: bool = False
    approve: ApproveMode = "auto"
    gate_initial: bool = Field(default=False, description="Also ask the gate before the first build")
    llm: LlmSettings = Field(default_factory=LlmSettings)
    limits: DockerLimits = Field(default_factory=DockerLimits)
    ca_cert: Path | None = Field(default=None, description="CA bundle to install in the image (auto-detected if None)")
    no_ca: bool = Field(default=False, description="Do not inject any CA bundle, even if one is detected")
    proxy_env: dict[str, str] = Field(default_factory=dict, description="HTTP(S)_PROXY / NO_PROXY passed as build args")
    base_image_map: dict[str, str] = Field(
        default_factory=dict, description="Python version -> image, overriding python:X.Y-slim (mirrors, offline)"
    )
    allowed_base_images: list[str] = Field(
        default_factory=list,
        description="Base images the plan policy allows besides python:X.Y[-slim], nvidia/cuda and the image map "
        "(a trailing * allows a prefix)",
    )
    arxiv_base_url: str = "https://arxiv.org"
    cache_dir: Path | None = None
    keep_image: bool = True
    max_file_bytes: int = Field(default=100 * 1024 * 1024, gt=0,
                                description="A repository file over this is left out (clones and copies alike)")
    max_repo_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0,
                                description="A checkout over this in all is refused before it is written")
    run_id: str | None = Field(default=None, description="Force the run folder's name (tests, resume)")
    engine: str = Field(default="docker", description="Container engine: docker, podman, a plug-in, or module:Class")
    engine_host: str | None = Field(default=None, description="Engine endpoint: unix://, tcp:// (TLS), ssh://")
    engine_tls_dir: Path | None = Field(default=None, description="Folder with ca.pem, cert.pem, key.pem (tcp://)")
    download_cache: bool = Field(default=True, description="Share pip's and apt's downloads between attempts and "
                                 "runs: cache mounts where the engine has them, else a cache server on the host "
                                 "for a local engine (folder: <cache dir>/downloads)")
    sources: dict[str, str] = Field(default_factory=dict, description="setting -> where its value came from")
    notes: list[str] = Field(default_factory=list, description="what the resolver left out, and why")

    def public_json(self) -> dict[str, Any]:
        """What `config.json` in the run folder holds: every setting but the key (only which setting held it), the
        proxies and the repository URL's credentials."""
        from .acquire.spec import strip_userinfo

        # No secret at rest: not the key, not a token in the repository URL, not the proxies (a password in them);
        # a resumed run reads the proxies from its own environment again.
        data = self.model_dump(mode="json", exclude={"llm": {"api_key"}, "run_id": True, "proxy_env": True})
        data["llm"]["key_sent"] = bool(self.llm.api_key and self.llm.api_key.get_secret_value())
        data["repo"] = strip_userinfo(data["repo"])
        return data

    @field_validator("repo")
    @classmethod
    def _repo_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("--repo is required: a GitHub URL, a git URL or a local path")
        return value.strip()
