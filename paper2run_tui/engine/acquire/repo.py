"""Acquire the repository into the run folder: a shallow clone, or a filtered copy of a local folder.

The run works on its own copy (runs/<run>/repo/), so the person's folder is never written
to, and the commit SHA that was built is recorded. Every failure is a UserError with a fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import git
from pydantic import BaseModel, Field

from ..contracts.events import LogLine
from ..errors import UserError
from ..ports import CancelToken, EventSink
from .copy_tree import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_TOTAL_BYTES,
    MAX_SKIPPED_LISTED,
    QUIET_DIRS,
    SKIP_DIRS,
    SizePolicy,
    copy_filtered,
    human_size,
    printable,
    utf8_name,
)
from .git_ops import GitFailed, explain_clone_failure, last_line, require_git, run_git, run_git_bytes
from .spec import RepoSource, parse_repo_spec, redact, strip_userinfo

__all__ = ["AcquiredRepo", "RepoSource", "acquire_repo", "parse_repo_spec"]

_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_SAFE_REF = re.compile(r"^[A-Za-z0-9._/@+-]+$")


class AcquiredRepo(BaseModel):
    """What was fetched, from where, at which commit, and what was left out."""

    source: RepoSource
    path: Path = Field(description="The checkout inside the run folder")
    ref: str | None = None
    commit_sha: str | None = Field(default=None, description="None for a plain (non-git) folder")
    commit_date: datetime | None = None
    is_git: bool = False
    shallow: bool = False
    readmes: list[str] = Field(
        default_factory=list, description="Repo-relative README paths, top level first"
    )
    files: int | None = Field(default=None, description="Files copied (local folders only)")
    skipped: list[str] = Field(default_factory=list, description="What was not copied, and why")
    warnings: list[str] = Field(default_factory=list)


def acquire_repo(
    source: RepoSource,
    dest: Path,
    ref: str | None,
    sink: EventSink,
    cancel: CancelToken,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    timeout_s: float | None = None,
) -> AcquiredRepo:
    """Fetch `source` into `dest` (which must not exist or be empty). On failure dest is removed.

    Clones and copies follow one size policy: a file over `max_file_bytes` is left out with a reason, a checkout
    over `max_total_bytes` is refused (UserError) before it is written."""
    policy = SizePolicy(max_file_bytes, max_total_bytes)
    explicit_ref = bool(ref and ref.strip())
    ref = _check_ref(ref or source.ref)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"the checkout folder {dest} already exists and is not empty", "use a new run folder")
    created = not dest.exists()
    try:
        if source.kind == "local":
            assert source.path is not None
            result = _acquire_local(source, source.path, dest, ref, sink, cancel, policy, timeout_s)
        elif ref is not None and not explicit_ref and "/" in ref:
            result = _clone_url_ref(source, dest, ref, sink, cancel, timeout_s, policy)
        else:
            assert source.url is not None
            result = _clone(source, source.url, dest, ref, sink, cancel, timeout_s, policy)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            _empty(dest)
        raise
    result.readmes = find_readmes(dest)
    where = f" at {result.commit_sha[:12]}" if result.commit_sha else ""
    sink.emit(LogLine(source="acquire", text=f"acquired {source.name}{where} into {dest}"))
    return result


def _check_ref(ref: str | None) -> str | None:
    if ref is None or not ref.strip():
        return None
    ref = ref.strip()
    if ref.startswith("-") or not _SAFE_REF.match(ref) or ".." in ref:
        raise UserError(f"not a valid git ref: {ref!r}", "give a branch name, a tag, or a commit SHA")
    return ref


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# --- remote (and local-with-ref) clones -----------------------------------------------------------------


def _clone(
    source: RepoSource,
    url: str,
    dest: Path,
    ref: str | None,
    sink: EventSink,
    cancel: CancelToken,
    timeout_s: float | None,
    policy: SizePolicy,
) -> AcquiredRepo:
    """Clone without a checkout, then check out what the size policy allows (see _checkout_within)."""
    require_git()
    dest.parent.mkdir(parents=True, exist_ok=True)
    shown = str(source.path) if source.kind == "local" else redact(url)
    shallow = True
    warnings: list[str] = []
    try:
        if ref is None:
            run_git(
                ["clone", "--progress", "--no-checkout", "--depth", "1", "--", url, str(dest)],
                cwd=None,
                sink=sink,
                cancel=cancel,
                progress=True,
                timeout_s=timeout_s,
            )
        elif _SHA.match(ref):
            shallow = _clone_commit(url, dest, ref, sink, cancel, timeout_s)
        else:
            run_git(
                ["clone", "--progress", "--no-checkout", "--depth", "1", "--branch", ref, "--", url, str(dest)],
                cwd=None,
                sink=sink,
                cancel=cancel,
                progress=True,
                timeout_s=timeout_s,
            )
    except GitFailed as err:
        raise explain_clone_failure(err, shown, ref) from None
    left_out, policy_warnings = _checkout_within(dest, policy, sink, cancel)
    warnings += policy_warnings
    if (dest / ".gitmodules").is_file():
        warnings += _submodules(dest, sink, cancel, timeout_s)
        files, total = _tree_size(dest)
        if total > policy.max_total_bytes:
            raise policy.over_total(total, files, "with its submodules it checks out")
    sha, date = _head(dest)
    _strip_stored_credentials(dest)
    skipped, link_warnings = _drop_escaping_links(dest)
    hostile, name_warnings = _drop_unrecordable_names(dest)
    skipped, link_warnings = left_out + skipped + hostile, link_warnings + name_warnings
    return AcquiredRepo(
        source=source,
        path=dest,
        ref=ref,
        commit_sha=sha,
        commit_date=date,
        is_git=True,
        shallow=shallow,
        skipped=skipped,
        warnings=warnings + link_warnings,
    )


#: Longest path the run folder's file system takes (Linux PATH_MAX and NAME_MAX).
_PATH_MAX, _NAME_MAX = 4096, 255


def _checkout_within(dest: Path, policy: SizePolicy, sink: EventSink, cancel: CancelToken) -> tuple[list[str], list[str]]:
    """Check HEAD out into the clone's (empty) working tree, within the size policy. The tree's listing (sizes
    included) comes before any file is written: a checkout over the total limit raises UserError; files over the
    per-file limit, with names that are not UTF-8, or with paths too long for the run folder are not written
    (their index entries are marked skip-worktree, so `git status` stays clean). Returns (skipped, warnings)."""
    listing = run_git_bytes(["ls-tree", "-r", "-l", "-z", "--full-tree", "HEAD"], cwd=dest, sink=sink,
                            cancel=cancel)
    prefix = len(os.fsencode(os.path.realpath(dest))) + 1
    skipped: list[str] = []
    left_out: list[bytes] = []
    big: list[str] = []
    total = files = 0
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) < 4:
            continue
        kind, size = fields[1], int(fields[3]) if fields[3].isdigit() else 0
        rel = os.fsdecode(raw_path)
        reason = None
        if not utf8_name(rel):
            reason = f"{printable(rel)} (its name is not UTF-8)"
        elif prefix + len(raw_path) >= _PATH_MAX or any(len(part) > _NAME_MAX for part in raw_path.split(b"/")):
            reason = f"{rel[:120]}... (path too long for the run folder: {len(raw_path)} characters)"
        elif kind == b"blob":
            reason = policy.file_reason(rel, size)
            if reason is not None:
                big.append(rel)
        if reason is not None:
            left_out.append(raw_path)
            if len(skipped) < MAX_SKIPPED_LISTED:
                skipped.append(reason)
            continue
        if kind == b"blob":
            total += size
            files += 1
    if total > policy.max_total_bytes:
        raise policy.over_total(total, files, "it would check out")
    run_git(["read-tree", "HEAD"], cwd=dest, sink=sink, cancel=cancel)
    if left_out:
        run_git_bytes(["update-index", "--skip-worktree", "-z", "--stdin"], cwd=dest, sink=sink, cancel=cancel,
                      stdin=b"\0".join(left_out) + b"\0")
    run_git(["checkout-index", "--all", "--quiet"], cwd=dest, sink=sink, cancel=cancel)
    warnings = []
    if big:
        names = ", ".join(big[:5]) + (" ..." if len(big) > 5 else "")
        warnings.append(f"{len(big)} file(s) over {human_size(policy.max_file_bytes)} were not checked out: {names}")
    if len(left_out) > len(skipped):
        skipped.append(f"... and {len(left_out) - len(skipped)} more skipped entries")
    sink.emit(LogLine(source="acquire", text=f"checked out {files} files ({total / 1e6:.1f} MB)"
                                             + (f"; skipped {len(left_out)}" if left_out else "")))
    return skipped, warnings


def _tree_size(root: Path) -> tuple[int, int]:
    """(files, bytes) of a working tree on disk, .git folders left out."""
    files = total = 0
    for cur, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(cur, name))
                files += 1
                total += st.st_size
    return files, total


def _strip_stored_credentials(dest: Path) -> None:
    """git keeps the URL it cloned from in .git/config (and each submodule's in .git/modules/*/config): a token
    or a password in it would stay at rest in the run folder. Removed once the clone (and its submodules) is done."""
    git_dir = dest / ".git"
    if not git_dir.is_dir():
        return
    for config in [git_dir / "config", *git_dir.glob("modules/**/config")]:
        if not config.is_file() or config.is_symlink():
            continue
        text = config.read_text(encoding="utf-8", errors="surrogateescape")
        clean = strip_userinfo(text)
        if clean != text:
            config.write_text(clean, encoding="utf-8", errors="surrogateescape")


def _clone_url_ref(
    source: RepoSource, dest: Path, ref: str, sink: EventSink, cancel: CancelToken, timeout_s: float | None,
    policy: SizePolicy,
) -> AcquiredRepo:
    """github.com/o/n/tree/<branch>/<subfolder>: the branch may itself contain '/', so try the
    longest prefix first. The whole repository is used either way."""
    assert source.url is not None
    parts = ref.split("/")
    for n in range(len(parts), 0, -1):
        candidate = "/".join(parts[:n])
        try:
            result = _clone(source, source.url, dest, candidate, sink, cancel, timeout_s, policy)
        except UserError as err:
            if n == 1 or not str(err).startswith("unknown ref"):
                raise
            shutil.rmtree(dest, ignore_errors=True)
            continue
        if n < len(parts):
            sub = "/".join(parts[n:])
            result.warnings.append(
                f"the URL points at the folder {sub}; the whole repository at {candidate} is used"
            )
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _clone_commit(
    url: str, dest: Path, sha: str, sink: EventSink, cancel: CancelToken, timeout_s: float | None
) -> bool:
    """A commit by SHA: fetch just that commit (depth 1) if the server allows it, else a full clone.

    Returns whether the result is shallow.
    """
    if len(sha) == 40:
        dest.mkdir(parents=True, exist_ok=True)
        try:
            run_git(["init", "-q"], cwd=dest, sink=sink, cancel=cancel)
            run_git(["remote", "add", "origin", url], cwd=dest, sink=sink, cancel=cancel)
            run_git(
                ["fetch", "--progress", "--depth", "1", "origin", sha],
                cwd=dest,
                sink=sink,
                cancel=cancel,
                progress=True,
                timeout_s=timeout_s,
            )
            run_git(["update-ref", "--no-deref", "HEAD", "FETCH_HEAD"], cwd=dest, sink=sink, cancel=cancel)
            return True
        except GitFailed as err:
            if not _fetch_by_sha_refused(err):
                raise
            sink.emit(
                LogLine(
                    source="acquire",
                    text=f"the server does not serve single commits ({last_line(err.stderr)}); cloning the full history",
                )
            )
        shutil.rmtree(dest, ignore_errors=True)
    run_git(
        ["clone", "--progress", "--no-checkout", "--", url, str(dest)],
        cwd=None,
        sink=sink,
        cancel=cancel,
        progress=True,
        timeout_s=timeout_s,
    )
    try:
        full = run_git(
            ["rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}"], cwd=dest, sink=sink, cancel=cancel
        ).strip()
    except GitFailed as err:
        raise GitFailed(err.args_, err.returncode, f"fatal: unknown revision {sha}") from None
    run_git(["update-ref", "--no-deref", "HEAD", full], cwd=dest, sink=sink, cancel=cancel)
    return False


def _fetch_by_sha_refused(err: GitFailed) -> bool:
    """Unreachable remotes fail the same way either way; only fall back when the commit itself was refused."""
    text = err.stderr
    return bool(
        re.search(
            r"not our ref|couldn't find remote ref|unadvertised object|no such remote ref|not a valid|did not match|bad object",
            text,
            re.I,
        )
    )


#: Submodules are fetched over these protocols only (git's own allow-list, inherited by nested submodules).
_SUBMODULE_PROTOCOLS = ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                        "-c", "protocol.ssh.allow=always"]


def submodule_url_refused(url: str) -> str | None:
    """Why a submodule URL is not fetched, or None: only https and ssh, only from a host that is not this machine
    or its private network (a repository must not make us read local files or local services)."""
    import ipaddress
    from urllib.parse import urlsplit

    url = url.strip()
    scp = re.match(r"^[\w.-]+@([\w.-]+):(?!//)", url)  # git@host:path
    if scp:
        host = scp.group(1)
    elif re.match(r"^(https|ssh|git\+ssh)://", url, re.I):
        host = urlsplit(url).hostname or ""
    elif url.startswith(("./", "../")):
        return None  # relative to the repository's own remote, which is checked with the remote's protocol
    else:
        return "not an https or ssh URL"
    host = host.lower().strip("[]")
    if not host or host == "localhost" or host.endswith((".localhost", ".local")):
        return f"host {host or '(none)'} is this machine or its network"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or ip.is_reserved:
        return f"host {host} is this machine or a private network"
    return None


def _submodules(dest: Path, sink: EventSink, cancel: CancelToken, timeout_s: float | None) -> list[str]:
    """Fetch the submodules whose URLs pass submodule_url_refused; say which were left out and why."""
    try:
        listed = run_git(["config", "-f", ".gitmodules", "--get-regexp", r"^submodule\..*\.(url|path)$"],
                         cwd=dest, sink=sink, cancel=cancel)
    except GitFailed:
        return ["the .gitmodules file could not be read; submodules were not fetched"]
    urls: dict[str, str] = {}
    paths: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition(" ")
        name, _, kind = key[len("submodule."):].rpartition(".")
        (urls if kind == "url" else paths)[name] = value
    allowed, warnings = [], []
    for name, url in sorted(urls.items()):
        reason = submodule_url_refused(url)
        if reason:
            warnings.append(f"submodule {name} not fetched: {redact(url)} ({reason})")
        elif name in paths:
            allowed.append(paths[name])
    if not allowed:
        return warnings
    try:
        run_git(
            [*_SUBMODULE_PROTOCOLS, "submodule", "update", "--init", "--recursive", "--depth", "1", "--progress",
             "--", *allowed],
            cwd=dest,
            sink=sink,
            cancel=cancel,
            progress=True,
            timeout_s=timeout_s,
        )
    except GitFailed as err:
        return [*warnings, f"git submodules could not be fetched ({last_line(err.stderr)}); the build may miss them"]
    return warnings


def _head(path: Path) -> tuple[str | None, datetime | None]:
    try:
        commit = git.Repo(path).head.commit
    except (ValueError, git.exc.GitError):
        return None, None
    return commit.hexsha, commit.committed_datetime.astimezone(UTC)


def _drop_escaping_links(dest: Path) -> tuple[list[str], list[str]]:
    """A clone may contain symlinks out of the tree (e.g. to /etc); remove them from our copy."""
    root = os.path.realpath(dest)
    escaping: list[str] = []
    for cur, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*files, *dirs]:
            full = os.path.join(cur, name)
            if not os.path.islink(full):
                continue
            link = os.readlink(full)
            resolved = os.path.realpath(os.path.join(cur, link))
            if resolved != root and not resolved.startswith(root + os.sep):
                os.unlink(full)
                escaping.append(f"{os.path.relpath(full, root)} -> {link}")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(cur, d))]
    return _link_report(escaping)


def _drop_unrecordable_names(dest: Path) -> tuple[list[str], list[str]]:
    """A clone may hold files whose names are not UTF-8 (nothing downstream can record them): removed, and said."""
    dropped: list[str] = []
    for cur, dirs, files in os.walk(dest):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*files, *dirs]:
            if utf8_name(name):
                continue
            full = os.path.join(cur, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.unlink(full)
            dropped.append(f"{printable(os.path.relpath(full, dest))} (its name is not UTF-8)")
        dirs[:] = [d for d in dirs if utf8_name(d)]
    if not dropped:
        return [], []
    return dropped[:MAX_SKIPPED_LISTED], [f"{len(dropped)} file(s) whose names are not UTF-8 were left out"]


def _link_report(entries: list[str]) -> tuple[list[str], list[str]]:
    if not entries:
        return [], []
    entries = sorted(entries)
    skipped = [
        f"{e} (symlink points outside the repository; not followed)" for e in entries[:MAX_SKIPPED_LISTED]
    ]
    names = ", ".join(e.split(" -> ")[0] for e in entries[:5]) + (" ..." if len(entries) > 5 else "")
    return skipped, [f"{len(entries)} symlink(s) point outside the repository and were not copied: {names}"]


# --- local folders -------------------------------------------------------------------------------------


def _acquire_local(
    source: RepoSource,
    path: Path,
    dest: Path,
    ref: str | None,
    sink: EventSink,
    cancel: CancelToken,
    policy: SizePolicy,
    timeout_s: float | None,
) -> AcquiredRepo:
    if not path.is_dir():
        raise UserError(f"no such folder: {path}", "give an existing folder or a git URL")
    warnings: list[str] = []
    foreign = _foreign_git_dir(path)
    if foreign is not None:
        # A .git file (gitdir: ...) or symlink leading out of the folder would make us record another repository's
        # HEAD as this one's: refused, and the folder is taken as a plain one.
        warnings.append(f"{path}/.git points outside the folder ({foreign}); not read: copied as a plain folder, "
                        "no commit recorded (pass the repository's own checkout, or a git URL)")
        sha, date, branch, outer = None, None, None, None
    else:
        sha, date, branch = _local_head(path, warnings)
        outer = _enclosing_repo(path) if sha is None else None
    if ref is not None:
        if outer is not None:
            raise UserError(
                f"--ref {ref} needs the repository's own folder, but {path} is a subfolder of {outer[0]}",
                f"pass --repo {outer[0]}, or drop --ref",
            )
        if sha is None:
            raise UserError(
                f"--ref {ref} needs a git repository, but {path} is a plain folder",
                "drop --ref, or give a git checkout",
            )
        return _clone(source, path.as_uri(), dest, ref, sink, cancel, timeout_s, policy)
    sink.emit(LogLine(source="acquire", text=f"copying {path} (working tree, uncommitted changes included)"))
    report = copy_filtered(
        path, dest, sink, cancel, max_file_bytes=policy.max_file_bytes, max_total_bytes=policy.max_total_bytes,
        exclude=_own_output(path, dest),
    )
    is_git = sha is not None
    shallow = False
    if outer is not None:
        top, sha, date = outer
        warnings.append(
            f"{path} is a subfolder of the git repository {top}; copied the folder, recorded its commit"
        )
    elif sha is not None:
        shallow = _attach_history(path, dest, sha, branch, sink, cancel, warnings)
    big = [s for s in report.skipped if s.endswith(" limit)")]
    if big:
        names = ", ".join(s.split(" (")[0] for s in big[:5]) + (" ..." if len(big) > 5 else "")
        warnings.append(f"{len(big)} file(s) over {human_size(policy.max_file_bytes)} were not copied: {names}")
    if report.escaping_links:
        _, link_warnings = _link_report(report.escaping_links)
        warnings += link_warnings
    sink.emit(
        LogLine(
            source="acquire",
            text=f"copied {report.files} files ({report.bytes / 1e6:.1f} MB); skipped {report.skipped_count}",
        )
    )
    return AcquiredRepo(
        source=source,
        path=dest,
        ref=None,
        commit_sha=sha,
        commit_date=date,
        is_git=is_git,
        shallow=shallow,
        files=report.files,
        skipped=report.summary(),
        warnings=warnings,
    )


def _own_output(src: Path, dest: Path) -> list[Path]:
    """When --out lies inside the repository, the output folder must not be copied into itself."""
    root = src.resolve()
    for candidate in (dest.parent.parent, dest.parent, dest):
        resolved = candidate.resolve()
        if resolved != root and resolved.is_relative_to(root):
            return [candidate]
    return []


def _local_head(path: Path, warnings: list[str]) -> tuple[str | None, datetime | None, str | None]:
    """Read HEAD without writing anything to the person's repository."""
    if not (path / ".git").exists():
        return None, None, None
    try:
        repo = git.Repo(path)
        commit = repo.head.commit
    except ValueError:
        warnings.append(f"{path} is a git repository without commits; copied as a plain folder")
        return None, None, None
    except git.exc.GitError as exc:
        warnings.append(f"{path}/.git is unreadable ({type(exc).__name__}); copied as a plain folder")
        return None, None, None
    try:
        branch: str | None = repo.active_branch.name
    except (TypeError, ValueError):
        branch = None  # detached HEAD
    return commit.hexsha, commit.committed_datetime.astimezone(UTC), branch


def _foreign_git_dir(path: Path) -> str | None:
    """Where path/.git leads when it is a symlink or a `gitdir:` file pointing outside `path`; None otherwise."""
    dotgit = path / ".git"
    root = os.path.realpath(path)
    if dotgit.is_symlink():
        target = os.path.realpath(dotgit)
    elif dotgit.is_file():
        try:
            text = dotgit.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            return "an unreadable .git file"
        m = re.match(r"\s*gitdir:\s*(.+)", text)
        if not m:
            return "a .git file that is not a gitdir pointer"
        target = os.path.realpath(os.path.join(path, m.group(1).strip()))
        if _worktree_of(target, dotgit):
            return None
    else:
        return None
    return None if target == root or target.startswith(root + os.sep) else target


def _worktree_of(git_dir: str, dotgit: Path) -> bool:
    """Whether `git_dir` is the linked-worktree folder of this very checkout (`git worktree add`): its `gitdir`
    file points back at our .git. Another repository's folder has no such pointer to us."""
    try:
        back = Path(git_dir, "gitdir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return False
    return os.path.realpath(back) == os.path.realpath(dotgit)


def _enclosing_repo(path: Path) -> tuple[Path, str, datetime] | None:
    """A folder inside a bigger checkout (a monorepo project): the commit it was taken from."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
        commit = repo.head.commit
        top = Path(repo.working_tree_dir or path).resolve()
        commit.tree[
            path.resolve().relative_to(top).as_posix()
        ]  # tracked there? (not just under a dotfiles $HOME)
    except (ValueError, KeyError, git.exc.GitError):
        return None
    return top, commit.hexsha, commit.committed_datetime.astimezone(UTC)


def _attach_history(
    src: Path,
    dest: Path,
    sha: str,
    branch: str | None,
    sink: EventSink,
    cancel: CancelToken,
    warnings: list[str],
) -> bool:
    """Give the copy a one-commit .git at the same HEAD, so `git status` shows the person's edits and
    version tools (setuptools-scm) work. The copied working tree is left as it is."""
    sink.emit(LogLine(source="acquire", text=f"recording the git history of {sha[:12]} in the copy"))
    try:
        run_git(["init", "-q", "-b", branch or "main"], cwd=dest, sink=sink, cancel=cancel)
        run_git(
            ["fetch", "-q", "--depth", "1", "--no-tags", src.as_uri(), sha],
            cwd=dest,
            sink=sink,
            cancel=cancel,
        )
        # HEAD and the index at `sha`, without hashing the working tree (that is `git status`'s job later)
        run_git(["update-ref", "HEAD", sha], cwd=dest, sink=sink, cancel=cancel)
        run_git(["read-tree", sha], cwd=dest, sink=sink, cancel=cancel)
    except GitFailed as err:
        shutil.rmtree(dest / ".git", ignore_errors=True)
        warnings.append(
            f"could not record git history in the copy ({last_line(err.stderr)}); copied the files only"
        )
        return False
    return True


def find_readmes(root: Path) -> list[str]:
    """README* at the top level, then one level down (docs/README.md, examples/README.md)."""
    found: list[str] = []
    skip = set(SKIP_DIRS) | QUIET_DIRS
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name.lower())
    except OSError:
        return found
    subdirs = []
    for entry in top:
        if entry.is_file(follow_symlinks=False) and entry.name.lower().startswith("readme"):
            found.append(entry.name)
        elif (
            entry.is_dir(follow_symlinks=False) and entry.name not in skip and not entry.name.startswith(".")
        ):
            subdirs.append(entry)
    for sub in subdirs:
        try:
            for entry in sorted(os.scandir(sub.path), key=lambda e: e.name.lower()):
                if entry.is_file(follow_symlinks=False) and entry.name.lower().startswith("readme"):
                    found.append(f"{sub.name}/{entry.name}")
        except OSError:
            continue
    return found
