"""How a build reaches the download cache, added to the Dockerfile only when the engine builds it.

The rendered Dockerfile stays the artifact a user rebuilds from: it builds unchanged anywhere, with no cache. Only
the text the engine is given gets the wiring, on the RUN steps that download (pip, apt-get), and only as a prefix
(and a suffix) of the step's own command, so no step is added and the step numbers stay those of the Dockerfile:

- cache mounts (buildah under Podman, BuildKit): `RUN --mount=type=cache,...` for pip's and apt's cache folders;
  the image's PIP_NO_CACHE_DIR is unset for the step, and the slim images' docker-clean (which deletes the .debs
  apt just fetched) is moved aside for the step and put back.
- the classic builder (no mounts): the step exports PIP_INDEX_URL (and PIP_TRUSTED_HOST) pointing at the host's
  caching index (build/download_cache.py), and http_proxy for apt (Debian's mirrors are plain HTTP). A step that
  names its own --index-url still goes to that index directly.

`original()` takes the wiring off an instruction again, so the failing step and the progress events name the
Dockerfile's own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PIP = re.compile(r"(?:^|[\s;&|(])(?:python3?\s+-m\s+)?pip3?\s+install\b")
_APT = re.compile(r"(?:^|[\s;&|(])apt-get\s+(?:-\S+\s+)*install\b")

#: Paths inside the image being built (not of the host): pip's default cache folder for the build's user (root),
#: and apt's download folder.
PIP_CACHE = "/root/.cache/pip"
APT_CACHE = "/var/cache/apt"
_CLEAN = "/etc/apt/apt.conf.d/docker-clean"
_CLEAN_ASIDE = "/etc/apt/docker-clean.paper2run"


@dataclass(frozen=True)
class Wiring:
    """What one kind of step gets: RUN flags (cache mounts), a shell prefix, a shell suffix."""

    mount: str = ""
    shell: str = ""
    suffix: str = ""

    @property
    def prefix(self) -> str:
        return (self.mount + " " if self.mount else "") + self.shell


@dataclass
class CacheWiring:
    """The wiring for pip steps and for apt steps; `apply` adds it to a Dockerfile, `original` takes it off."""

    pip: Wiring | None = None
    apt: Wiring | None = None
    describe: str = ""

    def apply(self, dockerfile: str) -> str:
        """The build text: each downloading RUN step (one line, or several joined by a trailing backslash) gets
        the prefix after `RUN ` on its first line and the suffix at the end of its last."""
        lines = dockerfile.splitlines(keepends=True)
        out: list[str] = []
        i = 0
        while i < len(lines):
            if not lines[i].startswith("RUN "):
                out.append(lines[i])
                i += 1
                continue
            j = i
            while lines[j].rstrip("\n").rstrip().endswith("\\") and j + 1 < len(lines):
                j += 1
            step = lines[i:j + 1]
            wiring = self._for(" ".join(line.rstrip("\n").rstrip().rstrip("\\") for line in step)[4:])
            if wiring is not None:
                step[0] = "RUN " + wiring.prefix + step[0][4:]
                last = step[-1].rstrip("\n")
                step[-1] = last + wiring.suffix + step[-1][len(last):]
            out += step
            i = j + 1
        return "".join(out)

    def _for(self, command: str) -> Wiring | None:
        pip, apt = bool(_PIP.search(command)) and self.pip, bool(_APT.search(command)) and self.apt
        if pip and apt:
            return _joined(self.pip, self.apt)  # type: ignore[arg-type]
        return self.pip if pip else self.apt if apt else None

    def original(self, instruction: str) -> str:
        """The Dockerfile's own instruction for one the engine printed (the wiring taken off)."""
        if not instruction.startswith("RUN "):
            return instruction
        command = instruction[4:]
        candidates = [w for w in (self.pip, self.apt) if w is not None]
        if self.pip is not None and self.apt is not None:
            candidates.insert(0, _joined(self.pip, self.apt))
        for wiring in candidates:
            if command.startswith(wiring.prefix) and command.endswith(wiring.suffix):
                end = len(command) - len(wiring.suffix)
                return "RUN " + command[len(wiring.prefix):end]
        return instruction


def _joined(pip: Wiring, apt: Wiring) -> Wiring:
    """A step that runs both pip and apt-get: both sets of flags first, then both shell prefixes."""
    return Wiring(" ".join(m for m in (pip.mount, apt.mount) if m), pip.shell + apt.shell, pip.suffix + apt.suffix)


def mount_wiring(ident: str = "paper2run") -> CacheWiring:
    """Cache mounts (buildah, BuildKit): pip's and apt's caches persist on the engine between builds, under the
    cache ids `<ident>-pip` and `<ident>-apt`. (pip keeps a download only when the index's answer allows caching:
    a proxy that strips Cache-Control leaves pip's cache empty; apt keeps its .debs regardless.)"""
    pip = Wiring(f"--mount=type=cache,id={ident}-pip,target={PIP_CACHE}", "unset PIP_NO_CACHE_DIR; ")
    apt = Wiring(f"--mount=type=cache,id={ident}-apt,target={APT_CACHE},sharing=locked",
                 f"mv {_CLEAN} {_CLEAN_ASIDE} 2>/dev/null; ",
                 f"; s=$?; mv {_CLEAN_ASIDE} {_CLEAN} 2>/dev/null; exit $s")
    return CacheWiring(pip=pip, apt=apt, describe=f"cache mounts ({PIP_CACHE}, {APT_CACHE})")


def index_wiring(index_url: str, proxy_url: str, trusted_host: str) -> CacheWiring:
    """The classic builder: pip's index and apt's proxy point at the host's caching server."""
    pip = Wiring(shell=f"export PIP_INDEX_URL={index_url} PIP_TRUSTED_HOST={trusted_host}; ")
    apt = Wiring(shell=f"export http_proxy={proxy_url}; ")
    return CacheWiring(pip=pip, apt=apt, describe=f"the host's download cache at {proxy_url}")


def mixed_wiring(index_url: str, trusted_host: str, ident: str = "paper2run") -> CacheWiring:
    """An engine with cache mounts that also reaches the host: pip through the host's cache (it keeps files
    whatever headers the index sends), apt with a cache mount."""
    mounts = mount_wiring(ident)
    pip = index_wiring(index_url, "", trusted_host).pip
    return CacheWiring(pip=pip, apt=mounts.apt,
                       describe=f"the host's download cache at {index_url} for pip, a cache mount for apt")
