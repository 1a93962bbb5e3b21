"""The headless CLI: bad input gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter

from paper2run_tui.engine.contracts import RunMetadata

ENV = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY") and not k.startswith("PAPER2RUN_")}


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paper2run_tui", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env or ENV)


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, output


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"demo.py": "import numpy\n", "requirements.txt": "numpy\n"}, git=True, name="demo")


def test_dry_run_headless_succeeds_and_prints_one_line_per_event(repo: Path, tmp_path: Path) -> None:
    result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run demo-") and lines[-1].startswith("run finished: dry-run")
    run_dir = next((tmp_path / "runs").iterdir())
    assert RunMetadata.model_validate_json((run_dir / "metadata.json").read_text()).status == "dry-run"
    assert len((run_dir / "run.log").read_text().splitlines()) == len(lines)


@pytest.mark.parametrize(
    ("repo_arg", "needle"),
    [
        ("ftp://example.com/repo.git", "ftp://example.com/repo.git"),
        ("https://github.com/onlyowner", "github.com/onlyowner"),
        ("not a url or path", "not a url or path"),
    ],
)
def test_malformed_or_unsupported_repo(repo_arg: str, needle: str, tmp_path: Path) -> None:
    assert_clean_failure(cli("run", "--repo", repo_arg, "--out", str(tmp_path), "--headless"), 2, needle)


def test_missing_local_path(tmp_path: Path) -> None:
    assert_clean_failure(cli("run", "--repo", str(tmp_path / "missing"), "--out", str(tmp_path), "--headless"), 2,
                         str(tmp_path / "missing"))


def test_unknown_ref_is_recorded_and_explained(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = cli("run", "--repo", f"file://{repo}", "--ref", "no-such-branch", "--out", str(out), "--headless")
    assert_clean_failure(result, 2, "no-such-branch")
    meta = RunMetadata.model_validate_json((next(out.iterdir()) / "metadata.json").read_text())
    assert meta.status == "input-error" and "no-such-branch" in meta.reason


def test_unreachable_remote(tmp_path: Path) -> None:
    result = cli("run", "--repo", "https://127.0.0.1:9/owner/repo.git", "--out", str(tmp_path), "--headless")
    assert_clean_failure(result, 2, "127.0.0.1:9")


def test_out_that_cannot_be_created(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_clean_failure(cli("run", "--repo", str(repo), "--out", str(blocker / "runs"), "--headless"), 2,
                         "cannot create the output folder", "--out")


def test_bad_numbers_are_each_reported(repo: Path, tmp_path: Path) -> None:
    result = cli("run", "--repo", str(repo), "--out", str(tmp_path), "--timeout", "0", "--max-attempts", "0",
                 "--headless")
    assert_clean_failure(result, 2, "--timeout", "--max-attempts")
    assert len([line for line in result.stderr.splitlines() if line.startswith("error: ")]) == 2


def test_missing_ca_cert_flag(repo: Path, tmp_path: Path) -> None:
    assert_clean_failure(cli("run", "--repo", str(repo), "--ca-cert", str(tmp_path / "nope.pem"), "--headless"), 2,
                         "--ca-cert", "nope.pem")


def test_encrypted_pdf_paper(repo: Path, tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner")
    pdf = tmp_path / "locked.pdf"
    with open(pdf, "wb") as fh:
        writer.write(fh)
    result = cli("run", "--repo", str(repo), "--paper", str(pdf), "--out", str(tmp_path / "runs"), "--dry-run",
                 "--headless")
    assert_clean_failure(result, 2, "encrypted")


def test_image_only_pdf_paper(repo: Path, tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    pdf = tmp_path / "scan.pdf"
    with open(pdf, "wb") as fh:
        writer.write(fh)
    result = cli("run", "--repo", str(repo), "--paper", str(pdf), "--out", str(tmp_path / "runs"), "--dry-run",
                 "--headless")
    assert_clean_failure(result, 2, "no extractable text")


def test_binary_and_non_utf8_readme_do_not_break_a_run(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"README.md": "caf\xe9 r\xe9sum\xe9\n".encode("latin-1") + b"\x00\x01\x02",
                      "docs/guide.md": b"\xff\xfe\x00garbage", "main.py": "print('hi')\n"}, git=True)
    result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_symlink_out_of_the_repo_is_not_followed(make_repo, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    repo = make_repo({"main.py": "print('hi')\n"})
    (repo / "leak.txt").symlink_to(secret)
    result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    assert not (run_dir / "repo" / "leak.txt").is_file() or (run_dir / "repo" / "leak.txt").is_symlink()
    assert "TOP SECRET" not in "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink())


def test_runs_lists_past_runs_headless(repo: Path, tmp_path: Path) -> None:
    assert cli("run", "--repo", str(repo), "--out", str(tmp_path), "--dry-run", "--headless").returncode == 0
    result = cli("runs", "--out", str(tmp_path), "--headless")
    assert result.returncode == 0 and "\tdry-run\t1 attempt(s)\t" in result.stdout


def test_base_url_without_a_model_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    env = {**ENV, "PAPER2RUN_BASE_URL": "http://127.0.0.1:9/v1"}
    assert_clean_failure(cli("run", "--repo", str(repo), "--dry-run", "--headless", env=env), 2, "PAPER2RUN_MODEL")


def test_api_key_from_dotenv_never_reaches_the_run_folder(repo: Path, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NVIDIA_API_KEY=nvapi-SECRET-dotenv-key\nPAPER2RUN_BASE_URL=http://127.0.0.1:9/v1\n"
                                  "PAPER2RUN_MODEL=test-model\n")
    result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless", cwd=tmp_path)
    run_dir = next((tmp_path / "runs").iterdir())
    meta = RunMetadata.model_validate_json((run_dir / "metadata.json").read_text())
    assert meta.base_url == "http://127.0.0.1:9/v1" and meta.model == "test-model", result.stdout + result.stderr
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and b"SECRET-dotenv" in p.read_bytes()]
    assert leaked == []
