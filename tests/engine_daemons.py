"""Engines the tests start themselves, beside (never instead of) the shared Docker engine.

- A second dockerd on a loopback TCP socket with TLS certificates made here (its own CA, server and client
  certificates), its own data-root, exec-root, pidfile and containerd namespace, a bridge of its own and no iptables,
  so it cannot disturb the shared engine; stopped by its own pid.
- Podman's Docker-compatible API service on a socket in a temporary folder, with the containers.conf that makes
  `podman run` work on this kind of machine (no default ulimits, runc).

Both get python:3.11-slim from the shared engine (`docker save`), since no registry is reachable. A missing
binary fails the test with what to install, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paper2run_tui.engine.engines.docker import connect_tls

TEST_IMAGE = "python:3.11-slim"


@dataclass
class StartedEngine:
    name: str
    host: str
    pid: int
    tls_dir: Path | None = None

    def stop(self) -> None:
        """Stop this engine by its own pid, and wait for it (never anything else)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            if _reaped(self.pid):
                return
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def need_binary(binary: str, package: str) -> str:
    """The binary's path; a clear failure naming the Debian package when it is missing (never a skip)."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: apt-get install {package} (.ci/provision does)", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tls_files(folder: Path) -> tuple[Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate: (server folder, client folder)."""
    need_binary("openssl", "openssl")
    server, client = folder / "server", folder / "client"
    server.mkdir(parents=True)
    client.mkdir(parents=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=paper2run test CA",
        "-keyout", "ca-key.pem", "-out", "ca.pem")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}/key.pem",
            "-out", f"{who}.csr")
        ssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}/cert.pem")
        shutil.copy(folder / "ca.pem", folder / who / "ca.pem")
    return server, client


def _ip(*args: str) -> None:
    need_binary("ip", "iproute2")
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"ip {' '.join(args)}: {done.stderr.strip()} (the TLS test engine needs root for its bridge)",
                    pytrace=False)


def _iptables(action: str, rule: list[str], check: bool = True) -> None:
    table, chain = (rule[:2], rule[2:]) if rule[0] == "-t" else ([], rule)
    done = subprocess.run(["iptables", *table, action, *chain], check=False, capture_output=True, text=True)
    if check and done.returncode != 0:
        pytest.fail(f"iptables {action} {' '.join(rule)}: {done.stderr.strip()}", pytrace=False)


def _copy_image(docker_client, target_client) -> None:  # type: ignore[no-untyped-def]
    """python:3.11-slim from the shared engine into another Docker-API engine (no registry here)."""
    with contextlib.suppress(Exception):
        target_client.images.get(TEST_IMAGE)
        return
    data = b"".join(docker_client.images.get(TEST_IMAGE).save(named=True))
    target_client.images.load(data)


def _wait_for(predicate, what: str, log: Path, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
    pytest.fail(f"{what} did not come up within {timeout:.0f} s; its log ends:\n{tail}", pytrace=False)


@contextlib.contextmanager
def tls_dockerd(folder: Path, shared_client) -> Iterator[StartedEngine]:  # type: ignore[no-untyped-def]
    """A second dockerd with TLS on 127.0.0.1:<free port>; yields its host and the client TLS folder."""
    dockerd = need_binary("dockerd", "docker.io")
    server, client_dir = make_tls_files(folder / "tls")
    port = free_port()
    host = f"tcp://127.0.0.1:{port}"
    log = folder / "dockerd.log"
    ns = f"p2r-test-{port}"
    # Its own bridge, made here: with --bridge=none a dockerd deletes the default docker0 interface at start,
    # which is the SHARED engine's bridge. A named bridge must exist before dockerd starts.
    bridge = f"p2rt{port}"
    _ip("link", "add", bridge, "type", "bridge")
    _ip("addr", "add", f"10.213.{port % 250}.1/24", "dev", bridge)
    _ip("link", "set", bridge, "up")
    # Builds need the network (PyPI): NAT for this bridge's subnet only, by rules added here and removed at the end
    # (the dockerd itself runs with --iptables=false: its chains would be the shared engine's chains).
    subnet = f"10.213.{port % 250}.0/24"
    rules = [["-t", "nat", "POSTROUTING", "-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"],
             ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"],
             ["FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]]
    for rule in rules:
        _iptables("-I", rule)
    (folder / "daemon.json").write_text("{}\n")  # not the shared engine's /etc/docker/daemon.json
    cmd = [dockerd, f"--config-file={folder / 'daemon.json'}", "-H", host, "--tlsverify", f"--tlscacert={server / 'ca.pem'}",
           f"--tlscert={server / 'cert.pem'}", f"--tlskey={server / 'key.pem'}",
           f"--data-root={folder / 'data'}", f"--exec-root={folder / 'exec'}", f"--pidfile={folder / 'dockerd.pid'}",
           f"--containerd-namespace={ns}", f"--containerd-plugins-namespace={ns}-plugins",
           f"--bridge={bridge}", "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--userland-proxy=false",
           f"--cgroup-parent={ns}", "--storage-driver=overlay2"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    engine = StartedEngine("docker-tls", host, proc.pid, client_dir)
    try:
        _wait_for(lambda: connect_tls(host, client_dir, timeout=10).ping(), f"the test dockerd at {host}", log)
        remote = connect_tls(host, client_dir)
        _copy_image(shared_client, remote)
        remote.close()
        yield engine
    finally:
        engine.stop()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        # overlay mounts under the data-root are gone with the daemon; what is left is plain files.
        subprocess.run(["rm", "-rf", "--one-file-system", str(folder / "data"), str(folder / "exec")],
                       check=False, capture_output=True)
        for rule in rules:
            _iptables("-D", rule, check=False)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


PODMAN_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'


@contextlib.contextmanager
def podman_service(folder: Path) -> Iterator[StartedEngine]:
    """`podman system service` on a socket under `folder`, with python:3.11-slim loaded into Podman's storage."""
    podman = need_binary("podman", "podman buildah fuse-overlayfs uidmap slirp4netns")
    conf = folder / "containers.conf"
    conf.write_text(PODMAN_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    have = subprocess.run([podman, "image", "exists", f"docker.io/library/{TEST_IMAGE}"], env=env, check=False)
    if have.returncode != 0:
        saved = subprocess.run(["docker", "save", TEST_IMAGE], check=True, capture_output=True).stdout
        subprocess.run([podman, "load", "-q"], input=saved, env=env, check=True, capture_output=True)
        subprocess.run([podman, "tag", f"localhost/{TEST_IMAGE}", f"docker.io/library/{TEST_IMAGE}"], env=env,
                       check=False, capture_output=True)
    sock = folder / "podman.sock"
    host = f"unix://{sock}"
    log = folder / "podman-service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([podman, "system", "service", "--time=0", host], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    engine = StartedEngine("podman", host, proc.pid)
    try:
        import docker

        _wait_for(lambda: sock.exists() and docker.DockerClient(base_url=host, timeout=10).ping(),
                  "podman system service", log)
        yield engine
    finally:
        engine.stop()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
