"""Docker, local or remote: the existing DockerExecutor, reached over a unix socket, tcp:// with TLS, or ssh://.

Remote engines take TLS files from a folder holding ca.pem, cert.pem and key.pem (the layout `docker --tlsverify`
and DOCKER_CERT_PATH use). This class adds only what is around the executor: how to connect, which progress
format its builder prints, and what it can do; builds and smoke runs are the DockerExecutor's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..build.base import BuildRequest, BuildResult, PreflightReport
from ..build.build_stream import stream_build
from ..build.docker_client import connect, engine_host, explain
from ..build.docker_executor import DockerExecutor
from ..build.progress import DOCKER_CLASSIC, ProgressParser
from ..contracts import EnvPlan, LogLine
from ..errors import UserError
from ..ports import CancelToken, EventSink
from .capabilities import EngineCapabilities

if TYPE_CHECKING:
    from ..config import DockerLimits, RunConfig

TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


def tls_config(tls_dir: Path) -> Any:
    """A verifying TLS configuration from a DOCKER_CERT_PATH-style folder, or UserError naming what is missing."""
    import docker

    missing = [name for name in TLS_FILES if not (tls_dir / name).is_file()]
    if missing:
        raise UserError(f"--engine-tls-dir {tls_dir}: {', '.join(missing)} missing",
                        "give the folder with ca.pem, cert.pem and key.pem for the remote engine")
    return docker.tls.TLSConfig(client_cert=(str(tls_dir / "cert.pem"), str(tls_dir / "key.pem")),
                                ca_cert=str(tls_dir / "ca.pem"), verify=True)


#: The oldest API version the SDK speaks, used only to ask the engine for its own.
PROBE_API_VERSION = "1.24"


def connect_tls(host: str, tls_dir: Path, timeout: int = 120) -> Any:
    """A client of a TLS engine that verifies against the given CA only.

    requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (set on machines behind an intercepting proxy) override a
    session's own CA, so the engine's certificate would be checked against the wrong bundle: the session ignores
    the environment (trust_env off), and the API version is asked with a session that does too."""
    import docker

    tls = tls_config(tls_dir)

    def client_for(version: str) -> Any:
        client = docker.DockerClient(base_url=host, tls=tls, timeout=timeout, version=version)
        client.api.trust_env = False
        return client

    try:
        probe = client_for(PROBE_API_VERSION)
        version = str(probe.version()["ApiVersion"])
        probe.close()
        client = client_for(version)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker raises many kinds for "not there"
        raise explain(exc, host) from None
    return client


class DockerEngine(DockerExecutor):
    name: ClassVar[str] = "docker"
    progress: ClassVar[ProgressParser] = DOCKER_CLASSIC

    def __init__(self, limits: DockerLimits | None = None, *, host: str | None = None,
                 tls_dir: Path | None = None) -> None:
        super().__init__(limits, host=host)
        self.tls_dir = tls_dir

    @classmethod
    def from_config(cls, config: RunConfig, *, host: str | None = None) -> DockerEngine:
        host = host or config.engine_host or cls.default_host()
        tls_dir = config.engine_tls_dir
        if tls_dir is None and host and host.startswith("tcp://") and os.environ.get("DOCKER_CERT_PATH"):
            tls_dir = Path(os.environ["DOCKER_CERT_PATH"])
        return cls(config.limits, host=host, tls_dir=tls_dir)

    @classmethod
    def default_host(cls) -> str | None:
        return None  # DOCKER_HOST, the current docker context, or the local socket

    @property
    def endpoint(self) -> str:
        return self.host or engine_host()

    @property
    def client(self) -> Any:
        if self._client is None:
            tls = self.tls_dir is not None and self.endpoint.startswith("tcp://")
            self._client = connect_tls(self.endpoint, self.tls_dir) if tls else connect(self.host)  # type: ignore[arg-type]
        return self._client

    def ping(self) -> bool:
        """Whether the engine answers now (a pool asks this after a run ended badly)."""
        try:
            return bool(self.client.ping())
        except Exception:  # noqa: BLE001 - any failure means: not there
            self._client = None
            return False

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult:
        return stream_build(self.client, request, sink, cancel, parser=self.progress, limits=self.limits)

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        report = super().preflight(plan, sink, cancel)
        caps = self.capabilities()
        report.capabilities = caps.line()
        sink.emit(LogLine(source="preflight", text=f"engine: {caps.line()}"))
        return report

    def capabilities(self) -> EngineCapabilities:
        caps = EngineCapabilities(engine=self.name, host=self.endpoint, progress_format=self.progress.name)
        try:
            info = self.client.info()
            caps.version = str(self.client.version().get("Version", ""))
        except Exception as exc:  # noqa: BLE001 - reported, not raised: `engines` lists unreachable ones too
            caps.reachable, caps.error = False, str(exc).splitlines()[0][:300]
            return caps
        caps.gpu = "nvidia" in (info.get("Runtimes") or {})
        caps.limits = [name for name, key in (("memory", "MemoryLimit"), ("cpus", "CpuCfsQuota"),
                                              ("pids", "PidsLimit")) if info.get(key, True)] + ["network"]
        caps.buildkit, caps.cache_mounts = self.builder_features()
        return caps

    def builder_features(self) -> tuple[bool, bool]:
        """(BuildKit, cache mounts): the classic /build API used here builds without BuildKit."""
        return False, False
