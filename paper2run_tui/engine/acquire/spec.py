"""What the person typed as the repository: a GitHub URL, any git URL, or a local folder.

Parsing happens before anything is created on disk, so a bad spec costs nothing and gets
one line saying what is wrong and what to type instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_serializer

from ..errors import UserError

_GIT_SCHEMES = {"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"}
# scp-like syntax git accepts: user@host:path, or host.tld:path without a user
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+)|(?P<dotted>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}))"
    r":(?P<path>[^/\\].*)$"
)
_NAME_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_EXAMPLES = "e.g. https://github.com/owner/name, git@github.com:owner/name.git, or a local folder"


class RepoSource(BaseModel):
    """Where the repository comes from; `name` names the run folder."""

    kind: Literal["github", "git", "local"]
    url: str | None = Field(default=None, description="The URL git clones from (remote kinds)")
    path: Path | None = Field(default=None, description="The absolute local folder (kind 'local')")
    name: str = Field(description="Short repository name, e.g. 'micrograd'")
    ref: str | None = Field(
        default=None, description="A ref named inside the URL (github.com/o/n/tree/<ref>)"
    )

    @field_serializer("url")
    def _no_secrets_on_disk(self, url: str | None) -> str | None:
        """repo.json and events must not keep a token that was typed into the URL."""
        return redact(url) if url else url


def redact(url: str) -> str:
    """https://user:token@host/... -> https://user:***@host/... for messages and logs. A lone user part of an http(s)
    URL is a token too (https://<token>@github.com/...); ssh's git@ is not a secret and stays."""
    url = re.sub(r"^([a-z+]+://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.IGNORECASE)
    return re.sub(r"^(https?://)[^/@:]+@", r"\1***@", url, flags=re.IGNORECASE)


_USERINFO_ANYWHERE = re.compile(r"\b(https?://)[^/@\s'\"]+@", re.IGNORECASE)


def scrub(text: str) -> str:
    """Every http(s) URL's user part in free text (git's messages quote the URL) -> ***."""
    return _USERINFO_ANYWHERE.sub(r"\1***@", text)


_USERINFO_STRIP = re.compile(r"\b(https?://)[^/@\s'\"]+@", re.IGNORECASE)


def strip_userinfo(text: str) -> str:
    """Every http(s) URL's user part (a token, user:password) removed: https://tok@host/x -> https://host/x."""
    return _USERINFO_STRIP.sub(r"\1", text)


def _strip_git(name: str) -> str:
    return name[:-4] if name.endswith(".git") else name


def _github(owner: str, name: str, rest: list[str], spec: str) -> RepoSource:
    name = _strip_git(name)
    if not (_NAME_PART.match(owner) and _NAME_PART.match(name)) or name in {".", ".."}:
        raise UserError(f"not a GitHub repository URL: {spec}", "use https://github.com/<owner>/<name>")
    ref = "/".join(rest[1:]) if len(rest) >= 2 and rest[0] in {"tree", "commit", "releases"} else None
    if rest and rest[0] == "releases":
        ref = "/".join(rest[2:]) if len(rest) >= 3 and rest[1] == "tag" else None
    return RepoSource(kind="github", url=f"https://github.com/{owner}/{name}.git", name=name, ref=ref or None)


def _parse_url(spec: str) -> RepoSource:
    try:
        parts = urlsplit(spec)
    except ValueError as exc:
        raise UserError(f"malformed URL: {spec} ({exc})", f"give a git URL, {_EXAMPLES}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _GIT_SCHEMES:
        raise UserError(
            f"unsupported URL scheme '{scheme}://' in {spec}",
            f"use https://, ssh://, git:// or file:// ({_EXAMPLES})",
        )
    segments = [s for s in parts.path.split("/") if s]
    if scheme == "file":
        if parts.netloc not in {"", "localhost"} or not segments:
            raise UserError(f"malformed file URL: {spec}", "use file:///absolute/path/to/repo")
        return RepoSource(kind="git", url=spec, name=_strip_git(segments[-1]))
    try:
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises on a non-numeric port
    except ValueError as exc:
        raise UserError(f"malformed URL: {spec} (bad port)", f"give a git URL, {_EXAMPLES}") from exc
    if not host:
        raise UserError(f"malformed URL: {spec} has no host", f"give a git URL, {_EXAMPLES}")
    if host in {"github.com", "www.github.com"}:
        if len(segments) < 2:
            raise UserError(
                f"not a GitHub repository URL: {spec} names no repository",
                "use https://github.com/<owner>/<name>",
            )
        src = _github(segments[0], segments[1], segments[2:], spec)
        if parts.username or scheme == "ssh":  # a token or an ssh user: clone exactly what was given
            return src.model_copy(update={"url": spec})
        return src
    if not segments or _strip_git(segments[-1]) in {"", ".", ".."}:
        raise UserError(
            f"malformed git URL: {spec} names no repository path", f"give the repository's URL, {_EXAMPLES}"
        )
    return RepoSource(kind="git", url=spec, name=_strip_git(segments[-1]))


def _parse_scp(spec: str, match: re.Match[str]) -> RepoSource:
    host = (match["host"] or match["dotted"]).lower()
    segments = [s for s in match["path"].split("/") if s]
    if host == "github.com":
        if len(segments) != 2:
            raise UserError(f"not a GitHub repository: {spec}", "use git@github.com:<owner>/<name>.git")
        src = _github(segments[0], segments[1], [], spec)
        return src.model_copy(update={"url": spec})
    if not segments:
        raise UserError(f"malformed git URL: {spec}", f"give the repository's URL, {_EXAMPLES}")
    return RepoSource(kind="git", url=spec, name=_strip_git(segments[-1]))


def _parse_local(spec: str) -> RepoSource:
    path = Path(spec).expanduser()
    if not path.exists():
        if re.match(r"^[A-Za-z0-9.-]+\.[a-z]{2,}/", spec):
            raise UserError(f"no such folder: {spec} (a URL needs its scheme)", f"write https://{spec}")
        raise UserError(
            f"no such folder, and not a git URL: {spec}", f"give an existing folder or a git URL, {_EXAMPLES}"
        )
    if not path.is_dir():
        raise UserError(
            f"{spec} is a file, not a folder", "give the repository's folder (the one holding its files)"
        )
    path = path.resolve()
    return RepoSource(kind="local", path=path, name=path.name or "repo")


def parse_repo_spec(spec: str) -> RepoSource:
    """Turn --repo into a RepoSource, or raise a UserError saying what to type instead."""
    spec = spec.strip()
    if not spec:
        raise UserError("no repository given", f"pass --repo with a git URL or a folder, {_EXAMPLES}")
    if "://" in spec:
        return _parse_url(spec)
    match = _SCP_LIKE.match(spec)
    if match and not Path(spec).expanduser().exists():
        return _parse_scp(spec, match)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", spec) and not Path(spec).expanduser().exists():
        raise UserError(f"malformed or unsupported repository: {spec}", f"give a git URL, {_EXAMPLES}")
    return _parse_local(spec)
