"""Docker, local or remote: the existing DockerExecutor, reached over a unix socket, tcp:// with TLS, or ssh://.

Remote engines take TLS files from a folder holding ca.pem, cert.pem and key.pem (the layout `docker --tlsverify`
and DOCKER_CERT_PATH use). This class adds only what is around the executor: how to connect, which progress
format its builder prints, and what it can do; builds and smoke runs are the DockerExecutor's own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ..build import download_cache
from ..build.base import BuildRequest, BuildResult, PreflightReport
from ..build.build_stream import stream_build
from ..build.cache_wiring import CacheWiring, index_wiring, mixed_wiring, mount_wiring
from ..build.docker_client import connect, engine_host, explain
from ..build.docker_executor import DockerExecutor
from ..build.download_cache import CacheServer, describe_delta
from ..build.progress import DOCKER_CLASSIC, ProgressParser
from ..config import default_cache_dir
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


def _host_cache_is_faithful(request: BuildRequest) -> bool:
    """Whether the host's cache server keeps the build honest: it fetches with this host's trust, so a build
    without the CA bundle (--no-ca) on a host that uses one would pass through it where the Dockerfile alone fails."""
    from ..build.ca_proxy import detect_ca_bundle

    return "ca.crt" in request.extra_files or detect_ca_bundle(None, os.environ) is None


class DockerEngine(DockerExecutor):
    name: ClassVar[str] = "docker"
    progress: ClassVar[ProgressParser] = DOCKER_CLASSIC
    #: Whether builds get a cgroup parent made on this machine (the engine's own step containers are made in it).
    build_cgroup_parent: ClassVar[bool] = True
    no_cgroup_parent: ClassVar[str | None] = None

    def __init__(self, limits: DockerLimits | None = None, *, host: str | None = None,
                 tls_dir: Path | None = None, download_cache: Path | None = None) -> None:
        super().__init__(limits, host=host)
        self.tls_dir = tls_dir
        self.download_cache = download_cache

    @classmethod
    def from_config(cls, config: RunConfig, *, host: str | None = None) -> DockerEngine:
        host = host or config.engine_host or cls.default_host()
        tls_dir = config.engine_tls_dir
        if tls_dir is None and host and host.startswith("tcp://") and os.environ.get("DOCKER_CERT_PATH"):
            tls_dir = Path(os.environ["DOCKER_CERT_PATH"])
        cache = (config.cache_dir or default_cache_dir()) / "downloads" if config.download_cache else None
        return cls(config.limits, host=host, tls_dir=tls_dir, download_cache=cache)

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
        wiring, server = self.cache_wiring(sink, host_cache=_host_cache_is_faithful(request))
        if wiring is None:
            return stream_build(self.client, request, sink, cancel, parser=self.progress, limits=self.limits,
                                endpoint=self._cgroup_endpoint, no_cgroup_why=self.no_cgroup_parent)
        wired = request.model_copy(update={"dockerfile": wiring.apply(request.dockerfile)})
        before = server.stats.snapshot() if server is not None else None
        result = stream_build(self.client, wired, sink, cancel, parser=self.progress, limits=self.limits,
                              original=wiring.original, endpoint=self._cgroup_endpoint,
                              no_cgroup_why=self.no_cgroup_parent)
        if server is not None and before is not None:
            sink.emit(LogLine(source="build", attempt=request.attempt,
                              text=describe_delta(before, server.stats.snapshot())))
        return result

    @property
    def _cgroup_endpoint(self) -> str | None:
        """The endpoint a build may make its cgroup parent for; None: the update-API watcher alone."""
        return self.endpoint if self.build_cgroup_parent else None

    def cache_wiring(self, sink: EventSink, host_cache: bool = True) -> tuple[CacheWiring | None, CacheServer | None]:
        """How this build reaches the download cache. When the engine runs on this machine, pip goes through the
        host's cache server on the engine's bridge gateway (it keeps files whatever cache headers the index or a
        proxy sends) and so does apt, unless the builder has cache mounts (buildah), which apt then uses. A remote
        engine with cache mounts uses them for both; a remote one without gets none (its builds cannot reach this
        host), nor does any with the cache off. The rendered Dockerfile is unchanged."""
        if self.download_cache is None:
            return None, None
        mounts = self.builder_features()[1]
        gateway = self.bridge_gateway() if host_cache else None
        server, why = None, f"the engine at {self.endpoint} is not on this machine, so its builds cannot reach it"
        if not host_cache:
            why = ("the build has no CA bundle while this host uses one: the host's cache would fetch with the "
                   "host's trust and hide a TLS failure the Dockerfile has")
        if gateway is not None:
            try:
                server = download_cache.serve(self.download_cache, gateway)
            except OSError as exc:
                why = f"cannot listen on {gateway}: {exc}"
        if server is not None:
            wiring = (mixed_wiring(server.index_url, server.netloc) if mounts
                      else index_wiring(server.index_url, server.proxy_url, server.netloc))
            where = f" ({self.download_cache})"
        elif mounts:
            wiring, where = mount_wiring(), f" (the host's cache: off, {why})"
        else:
            sink.emit(LogLine(source="build", text=f"download cache: off ({why})"))
            return None, None
        sink.emit(LogLine(source="build", text=f"download cache: pip and apt steps use {wiring.describe}{where}"))
        return wiring, server

    def bridge_gateway(self) -> str | None:
        """The gateway address of the engine's default bridge, when the engine runs on this machine."""
        endpoint = self.endpoint
        if not endpoint.startswith("unix://"):
            host = urlsplit(endpoint).hostname or ""
            if host not in ("127.0.0.1", "localhost", "::1"):
                return None
        try:
            configs = self.client.api.inspect_network("bridge").get("IPAM", {}).get("Config") or []
        except Exception:  # noqa: BLE001 - no bridge network (or not allowed to see it): no cache server
            return None
        for config in configs:
            if config.get("Gateway"):
                return str(config["Gateway"]).split("/")[0]
            with contextlib.suppress(ValueError, KeyError, StopIteration):  # the engine's default: the subnet's first
                return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
        return None

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        report = super().preflight(plan, sink, cancel)
        caps = self.capabilities()
        report.capabilities = caps.line()
        sink.emit(LogLine(source="preflight", text=f"engine: {caps.line()}"))
        line, best_effort = self.build_pids_preflight()
        sink.emit(LogLine(source="preflight", text=line))
        if best_effort:
            report.warnings.append(line)
        return report

    def build_pids_preflight(self) -> tuple[str, bool]:
        """How the process limit will reach build steps here, and whether that is only best effort."""
        from ..build.build_cgroup import blocker

        try:
            why = blocker(self.client.info(), self.endpoint) if self.build_cgroup_parent else self.no_cgroup_parent
        except Exception as exc:  # noqa: BLE001 - the build reports an engine that is not there
            why = f"the engine did not say how it runs containers ({type(exc).__name__})"
        if why is None:
            return ("build process limit: a cgroup made here with pids.max is every build step's parent, in place "
                    "before the step's first process"), False
        return (f"build process limit: best effort, set on each step's container once the build names it "
                f"(a step that forks at once can outrun it): {why}"), True

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
