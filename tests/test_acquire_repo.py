"""Acquire a repository: spec parsing, real clones of file:// repos, filtered local copies, bad inputs."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import git_commit_all
from hostile_trees import plant_bad_name_and_deep_path

from paper2run_tui.engine.acquire.copy_tree import DEFAULT_MAX_FILE_BYTES
from paper2run_tui.engine.acquire.repo import AcquiredRepo, RepoSource, acquire_repo, parse_repo_spec
from paper2run_tui.engine.contracts.events import Event, LogLine
from paper2run_tui.engine.errors import UserError
from paper2run_tui.engine.ports import CallbackSink, Cancelled, CancelToken, ListSink

FIXED_DATE = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "2022-01-02T03:04:05Z",
        "GIT_COMMITTER_DATE": "2022-01-02T03:04:05Z",
    }
    out = subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout.strip()


@pytest.fixture
def upstream(make_repo: Callable[..., Path]) -> dict[str, object]:
    """A repo with main (2 commits), a branch `feature`, a tag `v1.0` on the first commit."""
    root = make_repo(
        {"README.md": "# Demo\n", "train.py": "print('v1')\n", "docs/README.md": "docs\n"},
        git=True,
        name="demo",
    )
    first = git(root, "rev-parse", "HEAD")
    git(root, "tag", "v1.0")
    (root / "train.py").write_text("print('v2')\n")
    git(root, "commit", "-qam", "second")
    second = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "feature.py").write_text("X = 1\n")
    git(root, "add", "feature.py")
    git(root, "commit", "-qm", "feature")
    feature = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    return {"root": root, "url": root.as_uri(), "first": first, "second": second, "feature": feature}


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root (the .git folder included) with a content hash or link target."""
    out: dict[str, str] = {}
    for cur, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(cur) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{p.stat().st_mtime_ns}"
            else:
                out[rel] = "dir"
    return out


def acquire(spec: str, dest: Path, ref: str | None = None, **kw: object) -> tuple[AcquiredRepo, ListSink]:
    sink = ListSink()
    result = acquire_repo(parse_repo_spec(spec), dest, ref, sink, CancelToken(), **kw)  # type: ignore[arg-type]
    return result, sink


# --- parse_repo_spec ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "url", "name", "ref"),
    [
        (
            "https://github.com/karpathy/micrograd",
            "github",
            "https://github.com/karpathy/micrograd.git",
            "micrograd",
            None,
        ),
        (
            "https://github.com/karpathy/micrograd.git",
            "github",
            "https://github.com/karpathy/micrograd.git",
            "micrograd",
            None,
        ),
        (
            "https://github.com/karpathy/micrograd/",
            "github",
            "https://github.com/karpathy/micrograd.git",
            "micrograd",
            None,
        ),
        ("https://www.github.com/o/n/tree/dev", "github", "https://github.com/o/n.git", "n", "dev"),
        (
            "https://github.com/o/n/tree/release/1.2",
            "github",
            "https://github.com/o/n.git",
            "n",
            "release/1.2",
        ),
        ("https://github.com/o/n/releases/tag/v2.0", "github", "https://github.com/o/n.git", "n", "v2.0"),
        ("https://github.com/o/n/blob/main/setup.py", "github", "https://github.com/o/n.git", "n", None),
        (
            "git@github.com:karpathy/nanoGPT.git",
            "github",
            "git@github.com:karpathy/nanoGPT.git",
            "nanoGPT",
            None,
        ),
        ("git@github.com:karpathy/nanoGPT", "github", "git@github.com:karpathy/nanoGPT", "nanoGPT", None),
        (
            "https://x-access-token:abc@github.com/o/n.git",
            "github",
            "https://x-access-token:abc@github.com/o/n.git",
            "n",
            None,
        ),
        ("ssh://git@github.com/o/n.git", "github", "ssh://git@github.com/o/n.git", "n", None),
        (
            "https://gitlab.com/group/sub/project.git",
            "git",
            "https://gitlab.com/group/sub/project.git",
            "project",
            None,
        ),
        ("https://codeberg.org/o/thing", "git", "https://codeberg.org/o/thing", "thing", None),
        (
            "ssh://git@example.org:2222/team/tool.git",
            "git",
            "ssh://git@example.org:2222/team/tool.git",
            "tool",
            None,
        ),
        ("git://example.org/tool.git", "git", "git://example.org/tool.git", "tool", None),
        ("git@gitlab.com:team/deep/tool.git", "git", "git@gitlab.com:team/deep/tool.git", "tool", None),
        ("git@myserver:team/tool.git", "git", "git@myserver:team/tool.git", "tool", None),
        ("gitlab.example.com:team/tool.git", "git", "gitlab.example.com:team/tool.git", "tool", None),
        ("file:///srv/git/widget.git", "git", "file:///srv/git/widget.git", "widget", None),
        ("  https://github.com/a/b  ", "github", "https://github.com/a/b.git", "b", None),
    ],
)
def test_parse_urls(spec: str, kind: str, url: str, name: str, ref: str | None) -> None:
    src = parse_repo_spec(spec)
    assert src.kind == kind
    assert src.url == url
    assert src.name == name
    assert src.ref == ref
    assert src.path is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ftp://example.org/repo.git", "unsupported URL scheme 'ftp://'"),
        ("https://github.com/onlyowner", "names no repository"),
        ("https://github.com/", "names no repository"),
        ("https://example.org", "names no repository path"),
        ("https://", "has no host"),
        ("https://host:notaport/x.git", "bad port"),
        ("git@github.com:onlyowner", "not a GitHub repository"),
        ("https://github.com/o/n%20x", "not a GitHub repository URL"),
        ("file://otherhost/x.git", "malformed file URL"),
        ("", "no repository given"),
        ("random words here", "no such folder, and not a git URL"),
        ("github.com/owner/name", "a URL needs its scheme"),
        ("mailto:someone", "malformed or unsupported repository"),
    ],
)
def test_parse_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_repo_spec(spec)
    assert message in str(info.value)
    assert info.value.fix, "every error says what to do"
    assert "\n" not in str(info.value)


def test_parse_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my-project"
    folder.mkdir()
    src = parse_repo_spec(str(folder))
    assert src == RepoSource(kind="local", path=folder.resolve(), name="my-project")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_repo_spec("~/my-project").path == folder.resolve()
    monkeypatch.chdir(tmp_path)
    assert parse_repo_spec("my-project").path == folder.resolve()
    assert parse_repo_spec("./my-project/").name == "my-project"


def test_missing_path_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"no such folder, and not a git URL: .*missing — give an existing folder"
    ):
        parse_repo_spec(str(tmp_path / "missing"))
    a_file = tmp_path / "setup.py"
    a_file.write_text("x")
    with pytest.raises(UserError, match=r"setup.py is a file, not a folder — give the repository's folder"):
        parse_repo_spec(str(a_file))


# --- clones of file:// URLs (the real clone path, no network) --------------------------------------------


def test_clone_default_branch_is_shallow_with_sha_date_and_progress(upstream: dict, tmp_path: Path) -> None:
    dest = tmp_path / "run" / "repo"
    result, sink = acquire(str(upstream["url"]), dest)
    assert result.source.kind == "git"
    assert result.path == dest
    assert result.ref is None
    assert result.commit_sha == upstream["second"]
    assert result.commit_date == datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert result.is_git is True
    assert result.shallow is True
    assert (dest / ".git" / "shallow").read_text().strip() == upstream["second"]
    assert result.readmes == ["README.md", "docs/README.md"]
    assert result.skipped == []
    assert result.warnings == []
    assert (dest / "train.py").read_text() == "print('v2')\n"
    assert not (dest / "feature.py").exists()
    logs = [e for e in sink.events if isinstance(e, LogLine)]
    assert all(e.source == "acquire" for e in logs)
    assert any(e.text.startswith("git: receiving objects") and "100%" in e.text for e in logs)
    assert logs[-1].text.startswith(f"acquired demo at {str(upstream['second'])[:12]}")


def test_clone_branch(upstream: dict, tmp_path: Path) -> None:
    result, _ = acquire(str(upstream["url"]), tmp_path / "repo", "feature")
    assert result.ref == "feature"
    assert result.commit_sha == upstream["feature"]
    assert result.shallow is True
    assert (tmp_path / "repo" / "feature.py").read_text() == "X = 1\n"


def test_clone_tag(upstream: dict, tmp_path: Path) -> None:
    result, _ = acquire(str(upstream["url"]), tmp_path / "repo", "v1.0")
    assert result.ref == "v1.0"
    assert result.commit_sha == upstream["first"]
    assert result.commit_date == FIXED_DATE
    assert (tmp_path / "repo" / "train.py").read_text() == "print('v1')\n"


def test_clone_full_commit_sha_fetches_one_commit(upstream: dict, tmp_path: Path) -> None:
    result, _ = acquire(str(upstream["url"]), tmp_path / "repo", str(upstream["first"]))
    assert result.commit_sha == upstream["first"]
    assert result.shallow is True
    count = git(tmp_path / "repo", "rev-list", "--count", "HEAD")
    assert count == "1"
    assert (tmp_path / "repo" / "train.py").read_text() == "print('v1')\n"


def test_clone_short_sha_falls_back_to_full_clone(upstream: dict, tmp_path: Path) -> None:
    short = str(upstream["feature"])[:10]
    result, _ = acquire(str(upstream["url"]), tmp_path / "repo", short)
    assert result.ref == short
    assert result.commit_sha == upstream["feature"]
    assert result.shallow is False
    assert git(tmp_path / "repo", "rev-list", "--count", "HEAD") == "3"


def test_ref_from_github_style_tree_url_is_used(upstream: dict, tmp_path: Path) -> None:
    source = parse_repo_spec(str(upstream["url"])).model_copy(update={"ref": "feature"})
    result = acquire_repo(source, tmp_path / "repo", None, ListSink(), CancelToken())
    assert result.ref == "feature"
    assert result.commit_sha == upstream["feature"]


def test_github_tree_url_with_a_subfolder_uses_the_branch(upstream: dict, tmp_path: Path) -> None:
    source = parse_repo_spec(str(upstream["url"])).model_copy(update={"ref": "feature/docs/api"})
    result = acquire_repo(source, tmp_path / "repo", None, ListSink(), CancelToken())
    assert result.ref == "feature"
    assert result.commit_sha == upstream["feature"]
    assert result.warnings == [
        "the URL points at the folder docs/api; the whole repository at feature is used"
    ]
    source = source.model_copy(update={"ref": "nobranch/docs"})
    with pytest.raises(UserError, match="unknown ref 'nobranch'"):
        acquire_repo(source, tmp_path / "repo2", None, ListSink(), CancelToken())
    assert not (tmp_path / "repo2").exists()


@pytest.mark.parametrize("ref", ["no-such-branch", "0123456789abcdef0123456789abcdef01234567", "deadbee"])
def test_unknown_ref(upstream: dict, tmp_path: Path, ref: str) -> None:
    dest = tmp_path / "repo"
    with pytest.raises(UserError) as info:
        acquire(str(upstream["url"]), dest, ref)
    assert str(info.value).startswith(f"unknown ref '{ref}' in {upstream['url']}")
    assert "check the branch, tag or commit name" in info.value.fix
    assert not dest.exists(), "a failed acquire leaves no half-written checkout"


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "a b", "main..dev"])
def test_refs_that_could_be_options_are_refused(upstream: dict, tmp_path: Path, ref: str) -> None:
    with pytest.raises(UserError, match="not a valid git ref"):
        acquire(str(upstream["url"]), tmp_path / "repo", ref)


def test_unreachable_file_url(tmp_path: Path) -> None:
    dest = tmp_path / "repo"
    with pytest.raises(UserError) as info:
        acquire("file:///nonexistent/repo.git", dest)
    assert str(info.value).startswith("repository not found: file:///nonexistent/repo.git")
    assert "does not appear to be a git repository" in str(info.value)
    assert not dest.exists()


@pytest.mark.parametrize("ref", [None, "main", "0123456789abcdef0123456789abcdef01234567"])
def test_unreachable_https_remote(tmp_path: Path, ref: str | None) -> None:
    dest = tmp_path / "repo"
    with pytest.raises(UserError) as info:
        acquire("https://127.0.0.1:9/x.git", dest, ref)
    assert str(info.value).startswith("cannot reach https://127.0.0.1:9/x.git")
    assert "Failed to connect" in str(info.value) or "Couldn't connect" in str(info.value)
    assert "check the URL and the network" in info.value.fix
    assert not dest.exists()


def test_no_git_installed(upstream: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(UserError, match=r"git is not installed .* — install git"):
        acquire(str(upstream["url"]), tmp_path / "repo")


def test_committed_symlink_out_of_the_repo_is_dropped_from_a_clone(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_repo({"README.md": "x\n", "lib/core.py": "A = 1\n"})
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink("../../../../../../../etc", root / "lib" / "etc")
    os.symlink("lib/core.py", root / "core.py")
    git_commit_all(root)
    result, _ = acquire(root.as_uri(), tmp_path / "repo")
    dest = tmp_path / "repo"
    assert not os.path.lexists(dest / "passwd")
    assert not os.path.lexists(dest / "lib" / "etc")
    assert os.readlink(dest / "core.py") == "lib/core.py"
    assert sorted(result.skipped) == [
        "lib/etc -> ../../../../../../../etc (symlink points outside the repository; not followed)",
        "passwd -> /etc/passwd (symlink points outside the repository; not followed)",
    ]
    assert result.warnings == [
        "2 symlink(s) point outside the repository and were not copied: lib/etc, passwd"
    ]


def test_cancel_stops_a_clone_and_cleans_up(upstream: dict, tmp_path: Path) -> None:
    cancel = CancelToken()
    cancel.cancel("person pressed Ctrl-C")
    dest = tmp_path / "repo"
    with pytest.raises(Cancelled, match="Ctrl-C"):
        acquire_repo(parse_repo_spec(str(upstream["url"])), dest, None, ListSink(), cancel)
    assert not dest.exists()


def test_dest_not_empty_is_refused(upstream: dict, tmp_path: Path) -> None:
    dest = tmp_path / "repo"
    dest.mkdir()
    (dest / "leftover").write_text("x")
    with pytest.raises(UserError, match="already exists and is not empty"):
        acquire(str(upstream["url"]), dest)
    assert (dest / "leftover").read_text() == "x", "never deletes what it did not create"


# --- local checkouts and plain folders -------------------------------------------------------------------


def test_local_checkout_copies_the_working_tree_and_records_head(upstream: dict, tmp_path: Path) -> None:
    root = Path(str(upstream["root"]))
    (root / "train.py").write_text("print('edited, not committed')\n")
    (root / "scratch.py").write_text("Y = 2\n")
    before = snapshot(root)
    dest = tmp_path / "run" / "repo"
    result, sink = acquire(str(root), dest)
    assert snapshot(root) == before, "the person's folder is never written to"
    assert result.source.kind == "local"
    assert result.is_git is True
    assert result.ref is None
    assert result.commit_sha == upstream["second"]
    assert result.commit_date == datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert result.files == 4
    assert result.readmes == ["README.md", "docs/README.md"]
    assert (dest / "train.py").read_text() == "print('edited, not committed')\n"
    assert (dest / "scratch.py").read_text() == "Y = 2\n"
    # the copy has a one-commit history at the same HEAD, and git sees the person's edits
    assert git(dest, "rev-parse", "HEAD") == upstream["second"]
    assert git(dest, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(dest, "status", "--porcelain") == "M train.py\n?? scratch.py"
    assert [e.text for e in sink.events if isinstance(e, LogLine)][0] == (
        f"copying {root} (working tree, uncommitted changes included)"
    )


def test_local_checkout_with_ref_checks_it_out_in_the_copy(upstream: dict, tmp_path: Path) -> None:
    root = Path(str(upstream["root"]))
    before = snapshot(root)
    result, _ = acquire(str(root), tmp_path / "repo", "feature")
    assert snapshot(root) == before
    assert result.source.kind == "local"
    assert result.ref == "feature"
    assert result.commit_sha == upstream["feature"]
    assert result.is_git is True
    assert (tmp_path / "repo" / "feature.py").is_file()
    with pytest.raises(UserError, match=rf"unknown ref 'nope' in {root}"):
        acquire(str(root), tmp_path / "repo2", "nope")


def test_plain_folder_filtered_copy(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo(
        {
            "README.rst": "Title\n",
            "main.py": "print('hi')\n",
            "run.sh": "#!/bin/sh\necho hi\n",
            "pkg/__init__.py": "",
            "pkg/__pycache__/x.cpython-311.pyc": b"\x00\x01",
            ".venv/pyvenv.cfg": "home = /usr\n",
            ".venv/lib/site.py": "x\n",
            "venv/bin/python": "x\n",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/x.py": "x\n",
            "environment/keep.py": "KEEP = 1\n",
            "web/node_modules/left-pad/index.js": "x\n",
            "web/app.js": "x\n",
            "data/big.bin": b"\x00" * 5000,
            "data/small.csv": "a,b\n",
            "sub/.git": "gitdir: ../.git/modules/sub\n",
            "sub/code.py": "Z = 3\n",
        }
    )
    (root / "run.sh").chmod(0o755)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, root / "secret-link")
    os.symlink(str(root / "main.py"), root / "abs-inside")  # absolute, but inside: kept, made relative
    os.symlink("pkg", root / "pkg-link")
    before = snapshot(root)
    dest = tmp_path / "run" / "repo"
    result, _ = acquire(str(root), dest, max_file_bytes=1000)
    assert snapshot(root) == before
    assert result.is_git is False
    assert result.commit_sha is None
    assert result.commit_date is None
    assert result.shallow is False
    assert result.readmes == ["README.rst"]
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert copied == [
        "README.rst",
        "abs-inside",
        "data",
        "data/small.csv",
        "environment",
        "environment/keep.py",
        "main.py",
        "pkg",
        "pkg-link",
        "pkg/__init__.py",
        "run.sh",
        "sub",
        "sub/code.py",
        "web",
        "web/app.js",
    ]
    assert result.files == 8
    assert os.readlink(dest / "abs-inside") == "main.py"
    assert os.readlink(dest / "pkg-link") == "pkg"
    assert (dest / "run.sh").stat().st_mode & 0o111
    assert not (dest / "main.py").stat().st_mode & 0o111
    assert sorted(result.skipped) == sorted(
        [
            ".venv/ (virtualenv)",
            "venv/ (virtualenv)",
            "env/ (virtualenv (has pyvenv.cfg))",
            "web/node_modules/ (node packages (reinstalled in the image))",
            "data/big.bin (4.9 KB, over the 1000 bytes limit)",
            f"secret-link -> {outside} (symlink points outside the repository; not followed)",
            "1 cache folder(s) such as __pycache__/ (regenerated on use)",
        ]
    )
    assert result.warnings == [
        "1 file(s) over 1000 bytes were not copied: data/big.bin",
        "1 symlink(s) point outside the repository and were not copied: secret-link",
    ]
    assert DEFAULT_MAX_FILE_BYTES == 100 * 1024 * 1024


def test_out_folder_inside_the_repository_is_not_copied_into_itself(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_repo(
        {
            "a.py": "A = 1\n",
            "runs/demo-20260101T000000Z/events.jsonl": "",
            "runs/demo-20260101T000000Z/metadata.json": "{}",
            "runs/demo-20260101T000000Z/repo/a.py": "A = 1\n",
            "experiments/old/events.jsonl": "",
            "experiments/old/metadata.json": "{}",
            "experiments/old/repo/a.py": "A = 1\n",
            "experiments/config.yaml": "lr: 0.1\n",
        }
    )
    dest = root / "runs" / "demo-20260202T000000Z" / "repo"
    dest.parent.mkdir()
    result, _ = acquire(str(root), dest)
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert copied == ["a.py", "experiments", "experiments/config.yaml"]
    assert sorted(result.skipped) == [
        "experiments/old/ (paper2run output, not part of the repository)",
        "runs/ (paper2run output, not part of the repository)",
    ]


def test_plain_folder_with_ref_is_refused(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo({"a.py": "x\n"})
    with pytest.raises(
        UserError, match=r"--ref main needs a git repository, but .* is a plain folder — drop --ref"
    ):
        acquire(str(root), tmp_path / "repo", "main")
    assert not (tmp_path / "repo").exists()


def test_git_folder_without_commits_is_copied_as_plain(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_repo({"a.py": "x\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    result, _ = acquire(str(root), tmp_path / "repo")
    assert result.is_git is False
    assert result.commit_sha is None
    assert result.warnings == [f"{root} is a git repository without commits; copied as a plain folder"]
    assert not (tmp_path / "repo" / ".git").exists()


def test_large_tree_of_20k_files(tmp_path: Path) -> None:
    """Bounded on big trees: every file copied, progress reported, nothing listed twice."""
    root = tmp_path / "big"
    for d in range(40):
        folder = root / f"pkg{d:02d}"
        folder.mkdir(parents=True)
        for f in range(500):
            (folder / f"m{f}.py").write_bytes(b"X = 1\n")
    result, sink = acquire(str(root), tmp_path / "repo")
    assert result.files == 20_000
    assert sum(1 for _ in (tmp_path / "repo").rglob("*.py")) == 20_000
    progress = [e.text for e in sink.events if isinstance(e, LogLine) and e.text.startswith("copied ")]
    assert [p.split(" (")[0] for p in progress] == [
        "copied 10000 files",
        "copied 20000 files",
        "copied 20000 files",
    ]

    # the person cancels half-way: the copy stops at the next folder and leaves nothing behind
    cancel = CancelToken()

    def cancel_at_first_progress(event: Event) -> None:
        if isinstance(event, LogLine) and event.text.startswith("copied 10000"):
            cancel.cancel("quit")

    dest = tmp_path / "repo-cancelled"
    with pytest.raises(Cancelled, match="quit"):
        acquire_repo(parse_repo_spec(str(root)), dest, None, CallbackSink(cancel_at_first_progress), cancel)
    assert not dest.exists()


def test_local_git_worktree_is_a_checkout(upstream: dict, tmp_path: Path) -> None:
    root = Path(str(upstream["root"]))
    worktree = tmp_path / "wt"
    git(root, "worktree", "add", "-q", str(worktree), "feature")
    result, _ = acquire(str(worktree), tmp_path / "repo")
    assert (worktree / ".git").is_file()
    assert result.is_git is True
    assert result.commit_sha == upstream["feature"]
    assert git(tmp_path / "repo", "rev-parse", "HEAD") == upstream["feature"]
    assert git(tmp_path / "repo", "rev-parse", "--abbrev-ref", "HEAD") == "feature"
    assert git(tmp_path / "repo", "status", "--porcelain") == ""


def test_subfolder_of_a_checkout_records_the_enclosing_commit(upstream: dict, tmp_path: Path) -> None:
    root = Path(str(upstream["root"]))
    result, _ = acquire(str(root / "docs"), tmp_path / "repo")
    assert result.source.name == "docs"
    assert result.commit_sha == upstream["second"]
    assert result.commit_date == datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert result.is_git is False
    assert not (tmp_path / "repo" / ".git").exists()
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["README.md"]
    assert result.warnings == [
        f"{root / 'docs'} is a subfolder of the git repository {root}; copied the folder, recorded its commit"
    ]
    with pytest.raises(UserError, match=rf"is a subfolder of {root} — pass --repo {root}, or drop --ref"):
        acquire(str(root / "docs"), tmp_path / "repo2", "feature")
    # an untracked folder inside a checkout (say, a project under a dotfiles $HOME) is just a plain folder
    (root / "untracked-project").mkdir()
    (root / "untracked-project" / "a.py").write_text("A = 1\n")
    plain, _ = acquire(str(root / "untracked-project"), tmp_path / "repo3")
    assert plain.commit_sha is None
    assert plain.warnings == []


def test_submodule_that_cannot_be_fetched_is_a_warning(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    lib = make_repo({"lib.py": "L = 1\n"}, git=True, name="lib")
    root = make_repo({"main.py": "import lib\n"}, git=True, name="app")
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.as_uri(), "third_party/lib")
    git(root, "commit", "-qm", "add submodule")
    result, _ = acquire(root.as_uri(), tmp_path / "repo")
    assert result.commit_sha == git(root, "rev-parse", "HEAD")
    assert (tmp_path / "repo" / "main.py").is_file()
    assert len(result.warnings) == 1
    # a file:// submodule would read this machine's files: it is not fetched, and the warning says why
    assert result.warnings[0].startswith("submodule third_party/lib not fetched: file://")
    assert result.warnings[0].endswith("(not an https or ssh URL)")
    assert not (tmp_path / "repo" / "third_party" / "lib" / "lib.py").exists()


@pytest.mark.parametrize(("url", "refused"), [
    ("https://github.com/a/b.git", False), ("git@github.com:a/b.git", False), ("ssh://git@gitlab.com/a/b", False),
    ("../sibling.git", False), ("file:///etc", True), ("ext::sh -c id", True), ("http://github.com/a/b", True),
    ("https://127.0.0.1/a", True), ("https://localhost:8080/a", True), ("ssh://[::1]/a", True),
    ("git@10.1.2.3:a/b", True), ("https://192.168.0.4/x", True), ("https://169.254.169.254/x", True),
    ("/abs/path", True),
])
def test_submodules_only_over_https_or_ssh_from_hosts_that_are_not_local(url: str, refused: bool) -> None:
    from paper2run_tui.engine.acquire.repo import submodule_url_refused

    assert (submodule_url_refused(url) is not None) is refused, submodule_url_refused(url)


@pytest.mark.parametrize("kind", ["gitdir-file", "symlink"])
def test_a_dot_git_pointing_elsewhere_is_not_read(make_repo: Callable[..., Path], tmp_path: Path, kind: str) -> None:
    other = make_repo({"secret.py": "S = 1\n"}, git=True, name="other")
    folder = make_repo({"main.py": "M = 1\n"}, name="hostile")
    if kind == "symlink":
        (folder / ".git").symlink_to(other / ".git")
    else:
        (folder / ".git").write_text(f"gitdir: {other / '.git'}\n")
    result, _ = acquire(str(folder), tmp_path / "repo")
    assert result.commit_sha is None and not result.is_git  # not the other repository's HEAD
    assert any("points outside the folder" in w and "no commit recorded" in w for w in result.warnings)
    assert (tmp_path / "repo" / "main.py").is_file() and not (tmp_path / "repo" / ".git").exists()


def test_names_that_are_not_utf8_and_paths_too_long_are_skipped_with_a_reason(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    from paper2run_tui.engine.config import RunConfig
    from paper2run_tui.engine.pipeline import run_pipeline

    root = make_repo({"demo/__init__.py": "X = 1\n"}, name="names")
    plant_bad_name_and_deep_path(root)
    dest = tmp_path / ("p" * 240) / "repo"
    result, _ = acquire(str(root), dest)
    assert any("bad\\xff name.py (its name is not UTF-8)" in s for s in result.skipped), result.skipped
    assert any("path too long for the run folder" in s for s in result.skipped), result.skipped
    assert (dest / "demo" / "__init__.py").is_file()
    # and a whole run records its facts (repo_facts.json is UTF-8 JSON) instead of crashing
    outcome = run_pipeline(RunConfig(repo=str(root), out=tmp_path / "runs", dry_run=True, no_ca=True), ListSink())
    assert outcome.status == "dry-run", outcome.reason
    assert (outcome.run_dir / "repo_facts.json").is_file()  # type: ignore[operator]


def test_cancel_stops_a_local_copy(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_repo({"a.py": "x\n"})
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        acquire_repo(parse_repo_spec(str(root)), tmp_path / "repo", None, ListSink(), cancel)
    assert not (tmp_path / "repo").exists()


# --- a real HTTP server standing in for a forge: auth, not found, a remote that hangs ---------------------


class _Forge:
    """Answers git's smart-HTTP requests on 127.0.0.1: 401 for /private, 404 for /missing, no answer for /hang."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.paths: list[str] = []
        forge = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                forge.paths.append(self.path)
                if self.path.startswith("/hang"):
                    forge.release.wait(30)
                    return
                if self.path.startswith("/private"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="forge"')
                else:
                    self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forge(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Forge]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = _Forge()
    yield server
    server.close()


def test_auth_failure_says_the_repo_may_be_private(forge: _Forge, tmp_path: Path) -> None:
    url = f"{forge.url}/private/repo.git"
    with pytest.raises(UserError) as info:
        acquire(url, tmp_path / "repo")
    assert str(info.value).startswith(
        f"cannot access {url}: authentication failed or the repository is private"
    )
    assert "clone it yourself and pass the local folder" in info.value.fix
    assert forge.paths and forge.paths[0].startswith("/private/repo.git/info/refs")
    assert not (tmp_path / "repo").exists()


def test_a_token_in_the_url_is_not_shown_in_errors(forge: _Forge, tmp_path: Path) -> None:
    url = forge.url.replace("http://", "http://user:s3cret-token@") + "/private/repo.git"
    with pytest.raises(UserError) as info:
        acquire(url, tmp_path / "repo")
    assert "s3cret-token" not in str(info.value)
    source = parse_repo_spec(url)
    assert source.url == url, "the clone itself uses the token"
    assert "s3cret-token" not in source.model_dump_json()
    assert "user:***@" in source.model_dump_json()
    assert f"{forge.url.replace('http://', 'http://user:***@')}/private/repo.git" in str(info.value)


def test_a_lone_token_as_the_user_part_is_not_shown_in_errors_or_events(forge: _Forge, tmp_path: Path) -> None:
    """GitHub accepts https://<token>@github.com/...: the whole user part is the secret."""
    url = forge.url.replace("http://", "http://ghp_s3cretTOKEN@") + "/private/repo.git"
    sink = ListSink()
    with pytest.raises(UserError) as info:
        acquire_repo(parse_repo_spec(url), tmp_path / "repo", None, sink, CancelToken())
    assert "ghp_s3cretTOKEN" not in str(info.value) and "http://***@" in str(info.value)
    assert all("ghp_s3cretTOKEN" not in e.model_dump_json() for e in sink.events)
    assert "ghp_s3cretTOKEN" not in parse_repo_spec(url).model_dump_json()
    assert parse_repo_spec("ssh://git@example.org/a/b.git").model_dump_json().count("git@") == 1, "ssh's git@ is no secret"


def test_repository_not_found_on_the_server(forge: _Forge, tmp_path: Path) -> None:
    url = f"{forge.url}/missing/repo.git"
    with pytest.raises(UserError) as info:
        acquire(url, tmp_path / "repo")
    assert str(info.value).startswith(f"repository not found: {url}")
    assert "not found" in str(info.value).split(url, 1)[1]
    assert info.value.fix == "check the URL (owner and name, or the path)"


def test_cancel_while_git_waits_on_the_network(forge: _Forge, tmp_path: Path) -> None:
    cancel = CancelToken()
    dest = tmp_path / "repo"
    threading.Timer(0.5, cancel.cancel, args=("person pressed Ctrl-C",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="Ctrl-C"):
        acquire_repo(parse_repo_spec(f"{forge.url}/hang/repo.git"), dest, None, ListSink(), cancel)
    assert time.monotonic() - started < 10, "cancel is honoured while git is blocked, not after it gives up"
    assert not dest.exists()


def test_a_clone_that_hangs_times_out(forge: _Forge, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"git clone took longer than 1 s — check the network"):
        acquire(f"{forge.url}/hang/repo.git", tmp_path / "repo", timeout_s=1)
    assert not (tmp_path / "repo").exists()


# --- one size policy for clones and copies ------------------------------------------------------------------

MB = 1024 * 1024


def _zeros_repo(make_repo: Callable[..., Path], name: str, sizes: dict[str, int]) -> Path:
    """A git repository of files of zeros: its pack is a few kilobytes, its checkout the sum of `sizes`."""
    root = make_repo({"demo/__init__.py": "X = 1\n"}, name=name)
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size)
    git_commit_all(root)
    return root


def test_a_small_pack_that_checks_out_huge_is_refused_before_it_is_written(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = _zeros_repo(make_repo, "bomb", {f"data/part{i}.bin": 12 * MB for i in range(4)})  # 48 MB of zeros
    pack = sum(p.stat().st_size for p in (root / ".git" / "objects").rglob("*") if p.is_file())
    assert pack < 2 * MB, pack  # what the clone downloads is small
    dest = tmp_path / "clone"
    with pytest.raises(UserError) as err:
        acquire(root.as_uri(), dest, max_total_bytes=32 * MB)
    text = str(err.value)
    assert "the repository is too big: it would check out 48 MB in 5 files, over the 32 MB limit" in text, text
    assert "pass the folder" in text and "\n" not in text
    assert not dest.exists()  # nothing is left behind
    # the same policy for a copy of the folder
    with pytest.raises(UserError) as err:
        acquire(str(root), tmp_path / "copy", max_total_bytes=32 * MB)
    assert "the repository is too big: copying it reached" in str(err.value)
    assert not (tmp_path / "copy").exists()


def test_a_clone_leaves_out_files_over_the_per_file_limit_as_a_copy_does(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    root = _zeros_repo(make_repo, "bigfile", {"weights/model.pt": 6 * MB, "data/small.bin": MB})
    result, _ = acquire(root.as_uri(), tmp_path / "clone", max_file_bytes=4 * MB)
    assert any(s.startswith("weights/model.pt (6 MB, over the 4 MB limit)") for s in result.skipped), result.skipped
    assert any("were not checked out: weights/model.pt" in w for w in result.warnings), result.warnings
    assert not (tmp_path / "clone" / "weights" / "model.pt").exists()
    assert (tmp_path / "clone" / "data" / "small.bin").stat().st_size == MB
    assert result.commit_sha is not None
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path / "clone", capture_output=True, text=True)
    assert status.stdout == "", status.stdout  # the left-out file is skip-worktree, not a deletion
    copied, _ = acquire(str(root), tmp_path / "copy", max_file_bytes=4 * MB)
    assert any(s.startswith("weights/model.pt (6 MB, over the 4 MB limit)") for s in copied.skipped)


def test_a_pipeline_run_of_a_checkout_over_the_total_is_an_input_error(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    from paper2run_tui.engine.config import RunConfig
    from paper2run_tui.engine.pipeline import run_pipeline

    root = _zeros_repo(make_repo, "bomb", {f"part{i}.bin": 12 * MB for i in range(3)})
    config = RunConfig(repo=root.as_uri(), out=tmp_path / "runs", dry_run=True, no_ca=True, max_repo_bytes=16 * MB)
    outcome = run_pipeline(config, ListSink())
    assert outcome.status == "input-error", outcome.status
    assert outcome.reason and outcome.reason.startswith("the repository is too big"), outcome.reason
