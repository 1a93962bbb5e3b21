"""check_plan: the one policy every plan passes before it is rendered, whoever wrote it.

Refusals are what no one may run: anything that could change the Dockerfile's structure (line breaks,
control characters, line continuations, heredocs, bad names and paths), a base image outside the allowlist,
and plans too big to review. Flags are what a reviewer of an untrusted plan wants to see before it runs:
downloads piped into a shell, the Docker socket, writes outside the work directory and package locations,
new apt sources or keys, package indexes on unknown hosts. Without a person to look (headless, approve
auto or never), a flag refuses too.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..contracts import EnvPlan
from ..contracts.policy import PolicyContext, PolicyFinding, PolicyVerdict, Severity
from .images import image_allowed, is_image_reference

#: Line breaks and control characters: in a Dockerfile a line break starts a new instruction.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Debian package names (policy manual 5.6.1), with an optional :arch and =version as apt-get accepts them.
DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+:~-]+)?$")
CLEAN_PATH = re.compile(r"^/(?:[A-Za-z0-9._@+-]+(?:/[A-Za-z0-9._@+-]+)*)?$")
#: BuildKit reads `<<WORD` in a RUN line as a heredoc and swallows the template's next lines into it.
HEREDOC = re.compile(r"<<-?\s*[\"']?[A-Za-z_]")
INSTRUCTION = re.compile(r"^\s*(FROM|RUN|CMD|LABEL|EXPOSE|ENV|ADD|COPY|ENTRYPOINT|VOLUME|USER|WORKDIR|ARG|ONBUILD|"
                         r"STOPSIGNAL|HEALTHCHECK|SHELL)\b(.*)", re.IGNORECASE)

MAX_PLAN_CHARS = 200_000
MAX_FIELD_CHARS = 20_000
MAX_LIST_ITEMS = 200

PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget|fetch)\b[^|;&]*\|\s*(?:sudo\s+)?(?:\S*/)?(?:ba|da|z|k|fi)?sh\b"
    r"|\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:\S*/)?python[\d.]*\b"
    r"|\b(?:ba|da|z)?sh\s+(?:-s\s+)?<\(\s*(?:curl|wget)\b"
    r"|\$\(\s*(?:curl|wget)\b",
)
DOCKER_SOCKET = re.compile(r"docker\.sock|\bDOCKER_HOST\b")
APT_SOURCES = re.compile(r"/etc/apt/|\bapt-key\b|\badd-apt-repository\b|sources\.list")
SETUID = re.compile(r"\bchmod\s+(?:-\w+\s+)*(?:[ugoa]*[+=][rwxXt]*s|0?[2-7][0-7]{3}\b)")
TRUSTED_HOST = re.compile(r"--trusted-host\b|\bPIP_TRUSTED_HOST\b")
INDEX_OPTION = re.compile(r"(?:--index-url|--extra-index-url|--find-links|-i|-f)(?:=|\s+)[\"']?(\S+?)[\"']?(?=\s|$)")
URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'|;&)]+")
PRIVATE_HOST = re.compile(
    r"^(?:localhost|.*\.local|.*\.internal|127\.\d+\.\d+\.\d+|0\.0\.0\.0|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|"
    r"172\.(?:1[6-9]|2\d|3[01])\.\d+\.\d+|169\.254\.\d+\.\d+|\[?::1\]?|\[?fe80:.*)$",
    re.IGNORECASE,
)
#: Package indexes a plan may name without a flag.
KNOWN_INDEX_HOSTS = ("pypi.org", "files.pythonhosted.org", "download.pytorch.org", "data.pyg.org")
#: Where a build may write besides the work directory: the package locations, caches and scratch space.
WRITABLE = ("/usr/local", "/opt", "/tmp", "/var/tmp", "/root", "/home", "/var/lib/apt/lists", "/var/cache/apt",
            "/dev/null", "/dev/stdout", "/dev/stderr", "/usr/share/nltk_data")
_WRITERS = {"cp", "mv", "ln", "install", "chmod", "chown", "chgrp", "rm", "mkdir", "touch", "tee", "rsync", "dd",
            "truncate", "unzip", "tar"}
_STEP_FIELDS = ("install_steps", "source_steps")


def check_plan(plan: EnvPlan, ctx: PolicyContext, *, source: str = "") -> PolicyVerdict:
    """The verdict on one plan: every refusal and flag, each with its field and a reason a person can act on."""
    findings: list[PolicyFinding] = []

    def add(severity: Severity, field: str, rule: str, reason: str) -> None:
        if not any(f.field == field and f.rule == rule for f in findings):
            findings.append(PolicyFinding(severity=severity, field=field, rule=rule, reason=reason))

    _size(plan, add)
    for field, value in _strings(plan.model_dump(mode="json", exclude={"notes"})):
        bad = CONTROL.search(value)
        if bad:
            add("refuse", field, "control-character", _control_reason(value, bad.group()))
        if len(value) > MAX_FIELD_CHARS:
            add("refuse", field, "too-large", f"{len(value)} characters (at most {MAX_FIELD_CHARS}): too long to review")
    _structure(plan, ctx, add)
    for field, text in _shell_texts(plan):
        _flags(field, text, plan.workdir, add)
    for key, value in plan.env.items():
        if key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
            for url in value.split():
                _index_host(f"env.{key}", url, add)
        if key in ("LD_PRELOAD",):
            add("flag", f"env.{key}", "preload", "LD_PRELOAD loads a library into every process of the image")
    return PolicyVerdict(
        plan_fingerprint=plan.fingerprint(), source=source, person_reviews=ctx.person_reviews, findings=findings,
    )


# --- refusals ----------------------------------------------------------------------------------------------


def _size(plan: EnvPlan, add: Any) -> None:
    total = len(plan.model_dump_json())
    if total > MAX_PLAN_CHARS:
        add("refuse", "plan", "too-large", f"the plan is {total} characters (at most {MAX_PLAN_CHARS}): too big to review")
    for name in ("install_steps", "source_steps", "system_packages", "smoke_ladder", "env"):
        count = len(getattr(plan, name))
        if count > MAX_LIST_ITEMS:
            add("refuse", name, "too-large", f"{count} entries (at most {MAX_LIST_ITEMS}): too many to review")


def _structure(plan: EnvPlan, ctx: PolicyContext, add: Any) -> None:
    image = plan.base_image
    if not is_image_reference(image):
        add("refuse", "base_image", "image-reference",
            f"{_short(image)!r} is not a plain image reference (name[:tag][@digest]); FROM takes nothing else")
    elif not image_allowed(image, ctx.base_image_map, ctx.allowed_base_images):
        add("refuse", "base_image", "base-image",
            f"{image} is not an allowed base image (python:X.Y[-slim], nvidia/cuda, PAPER2RUN_BASE_IMAGE_MAP); "
            "the daemon would pull it from wherever it names. Allow it with --allow-base-image "
            "or PAPER2RUN_ALLOWED_BASE_IMAGES")
    workdir = plan.workdir
    if not CLEAN_PATH.match(workdir) or posixpath.normpath(workdir) != workdir or "/." in workdir + "/":
        if not CONTROL.search(workdir):
            add("refuse", "workdir", "workdir",
                f"{_short(workdir)!r} is not a clean absolute path (letters, digits, . _ - @ + and single slashes; "
                "no '..', no spaces)")
    elif workdir == "/" or any(workdir == p or workdir.startswith(p + "/") for p in _SYSTEM_DIRS):
        add("flag", "workdir", "system-workdir",
            f"the repository would be copied into {workdir}, over the image's system files")
    for i, name in enumerate(plan.system_packages):
        if not DEBIAN_PACKAGE.match(name) and not CONTROL.search(name):
            add("refuse", f"system_packages[{i}]", "debian-package",
                f"{_short(name)!r} is not a Debian package name (lowercase letters, digits, + - .; optional =version)")
    for key in plan.env:
        if not IDENTIFIER.match(key) and not CONTROL.search(key):
            add("refuse", f"env.{_short(key, 40)}", "env-key",
                f"{_short(key)!r} is not an environment variable name (letters, digits and _, not starting with a digit)")
    for field, step in _steps(plan):
        if step.rstrip().endswith("\\"):
            add("refuse", field, "line-continuation",
                "ends with a backslash: the Dockerfile would join the template's next instruction to this RUN")
        if HEREDOC.search(step):
            add("refuse", field, "heredoc",
                "contains '<<WORD': BuildKit reads that as a Dockerfile heredoc and swallows the next "
                "instructions; write the file with printf instead")


_SYSTEM_DIRS = ("/etc", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/boot", "/proc", "/sys", "/dev", "/var/run",
                "/run")


def _control_reason(value: str, char: str) -> str:
    if char in "\n\r\x85\u2028\u2029":
        after = re.split(r"[\n\r\x85\u2028\u2029]", value, maxsplit=1)[1]
        m = INSTRUCTION.match(after)
        if m:
            said = f"{m.group(1).upper()}{_short(m.group(2), 60)}"
            if m.group(1).upper() == "ADD" and URL.search(m.group(2)):
                return (f"contains a line break followed by '{said}': a new Dockerfile instruction that would make "
                        "the Docker daemon itself fetch that URL")
            return f"contains a line break followed by '{said}': that would be a new Dockerfile instruction"
        return "contains a line break: in the Dockerfile it would start a new instruction"
    return f"contains the control character {char!r}: nothing in a Dockerfile needs one"


# --- flags -------------------------------------------------------------------------------------------------


def _steps(plan: EnvPlan) -> Iterator[tuple[str, str]]:
    """Every RUN step the plan renders to: its own steps, and those its dependency section renders."""
    for field_name in _STEP_FIELDS:
        for i, step in enumerate(getattr(plan, field_name)):
            yield f"{field_name}[{i}]", step
    if plan.dependencies is not None:
        from ..render.install import render_steps  # render imports this module: imported when needed

        before, after = render_steps(plan)
        for i, step in enumerate(s for s in before + after if s.origin != "extra"):
            yield f"dependencies (step {i + 1}: {step.origin})", step.command


def _shell_texts(plan: EnvPlan) -> Iterator[tuple[str, str]]:
    yield from _steps(plan)
    yield "smoke_command", plan.smoke_command
    for i, rung in enumerate(plan.smoke_ladder):
        yield f"smoke_ladder[{i}].command", rung.command
    for key, value in plan.env.items():
        yield f"env.{_short(key, 40)}", f"{key}={value}"


def _flags(field: str, text: str, workdir: str, add: Any) -> None:
    if PIPE_TO_SHELL.search(text):
        add("flag", field, "pipe-to-shell",
            "pipes a download into a shell: whatever the server sends runs in the build, unreviewed")
    if DOCKER_SOCKET.search(text):
        add("flag", field, "docker-socket", "touches the Docker socket or DOCKER_HOST: that is control of the host's engine")
    if APT_SOURCES.search(text):
        add("flag", field, "apt-source", "adds an apt source or key: packages would come from outside Debian")
    if SETUID.search(text):
        add("flag", field, "setuid", "sets a setuid/setgid bit")
    if TRUSTED_HOST.search(text):
        add("flag", field, "trusted-host", "--trusted-host turns off TLS verification for a package index")
    if "/etc/ld.so.preload" in text:
        add("flag", field, "preload", "writes /etc/ld.so.preload: a library loaded into every process")
    for url in INDEX_OPTION.findall(text):
        _index_host(field, url, add)
    for url in URL.findall(text):
        host = (urlsplit(url).hostname or "").lower()
        if PRIVATE_HOST.match(host):
            add("flag", field, "private-host",
                f"reaches {host}, a loopback or private address: from a build that can be the host or its network")
    outside = _writes_outside(text, workdir)
    if outside:
        add("flag", field, "writes-outside",
            f"writes to {outside}, outside the work directory ({workdir}) and the package locations")


def _index_host(field: str, url: str, add: Any) -> None:
    if "://" not in url:
        return  # a local path or a requirements file name, not an index
    host = (urlsplit(url).hostname or "").lower()
    if host and not any(host == k or host.endswith("." + k) for k in KNOWN_INDEX_HOSTS):
        add("flag", field, "unknown-index",
            f"installs packages from {host}, which is not PyPI or a known wheel index: check who runs it")


def _writes_outside(text: str, workdir: str) -> str | None:
    """The first absolute path a shell text writes outside the allowed places, or None (a heuristic for a person)."""
    targets = [m.group(1) for m in re.finditer(r"(?<![0-9&])>>?\s*([^\s;&|)]+)", text)]
    for segment in re.split(r"&&|\|\||[;|]", text):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        if words and words[0] == "sudo":
            words = words[1:]
        if not words:
            continue
        command = posixpath.basename(words[0])
        if command in _WRITERS or (command == "sed" and any(w.startswith("-i") for w in words[1:])):
            targets += [w for w in words[1:] if w.startswith("/")]
        if command in ("curl", "wget"):
            for i, w in enumerate(words[:-1]):
                if w in ("-o", "-O", "--output", "--output-document"):
                    targets.append(words[i + 1])
    allowed = (workdir, *WRITABLE)
    for target in targets:
        target = target.strip("'\"")
        if not target.startswith("/"):
            continue
        norm = posixpath.normpath(target)
        if not any(norm == a or norm.startswith(a.rstrip("/") + "/") for a in allowed):
            return norm
    return None


# --- helpers -----------------------------------------------------------------------------------------------


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the dumped plan with its field path (dict keys too: an env key reaches the Dockerfile)."""
    if isinstance(value, str):
        yield path or "plan", value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{_short(str(key), 40)}" if path else str(key)
            if path:
                yield f"{where} (name)", str(key)
            yield from _strings(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def _short(text: str, limit: int = 80) -> str:
    text = CONTROL.sub("⏎", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
