"""One configuration for every flow: the resolver's layers and provenance, the `config` command, `.env` trust and
key routing, config.json in the run folder, and resume / implement keeping the model settings of their run
(checked against the tests' local model server, which must receive the calls)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import Reply, ScriptedLlmServer

from paper2run_tui.engine.contracts import RunMetadata
from paper2run_tui.engine.llm.budget import estimate_tokens

KEY = "nvapi-CONFIG-test-secret-0123456789"
ENV = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY") and not k.startswith(("PAPER2RUN_", "OPENAI_"))}
FAILING_PLAN = {"base_image": "python:3.11-slim", "install_steps": ["echo paper2run-config-test && exit 3"],
                "smoke_command": "python -V", "notes": "from the model"}


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paper2run_tui", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose user config file is an empty file under tmp_path (never the real user's)."""
    user = tmp_path / "user" / "config.toml"
    user.parent.mkdir()
    user.write_text("")
    return {**ENV, "PAPER2RUN_CONFIG_FILE": str(user)}


@pytest.fixture
def repo(make_repo) -> Path:  # type: ignore[no-untyped-def]
    return make_repo({"demo.py": "print('hi')\n", "requirements.txt": "six\n"}, git=True, name="demo")


def auth(server: ScriptedLlmServer, index: int) -> str | None:
    return {k.lower(): v for k, v in server.headers[index].items()}.get("authorization")


def only_run(out: Path, but: Path | None = None) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir() and p != but]
    assert len(runs) == 1, runs
    return runs[0]


def meta(run_dir: Path) -> RunMetadata:
    return RunMetadata.model_validate_json((run_dir / "metadata.json").read_text())


def test_config_names_the_source_of_each_value_and_masks_secrets(tmp_path: Path, home: dict[str, str]) -> None:
    user = Path(home["PAPER2RUN_CONFIG_FILE"])
    user.write_text('model = "from-file"\ntimeout = 60\nmemory = "2g"\n[base_image_map]\n"3.11" = "mirror/py:3.11"\n')
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text("PAPER2RUN_TIMEOUT=30\nPAPER2RUN_PIDS=99\n")
    env = {**home, "NVIDIA_API_KEY": KEY, "PAPER2RUN_MEMORY": "3g"}
    result = cli("config", "--model", "from-flag", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line and not line.startswith(" ")}
    assert "flag --model" in rows["model"] and "from-flag" in rows["model"]
    assert "environment PAPER2RUN_MEMORY" in rows["memory"] and " 3g " in rows["memory"]
    assert f"config file {user}" in rows["timeout"] and " 60 " in rows["timeout"]  # the file beats .env
    assert f".env {work / '.env'}" in rows["pids"]
    assert "mirror/py:3.11" in rows["base_image_map"]
    assert KEY not in result.stdout and "environment NVIDIA_API_KEY" in rows["nvidia_api_key"]
    assert "from-flag at https://integrate.api.nvidia.com/v1" in rows["LLM"]


def test_a_dotenv_inside_the_repository_being_run_is_never_read(repo: Path, tmp_path: Path,
                                                                 home: dict[str, str]) -> None:
    (repo / ".env").write_text("PAPER2RUN_BASE_URL=http://127.0.0.1:9/v1\nPAPER2RUN_MODEL=planted\n")
    result = cli("run", "--repo", ".", "--out", str(tmp_path / "runs"), "--dry-run", "--headless", cwd=repo, env=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is inside the repository being run: not read" in result.stderr
    run_dir = only_run(tmp_path / "runs")
    assert meta(run_dir).model is None and meta(run_dir).base_url is None
    assert json.loads((run_dir / "config.json").read_text())["llm"]["base_url"] is None


def test_a_key_never_follows_a_base_url_from_a_dotenv(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    work = tmp_path / "downloaded"
    work.mkdir()
    with ScriptedLlmServer([Reply(json.dumps(FAILING_PLAN))]) as server:
        (work / ".env").write_text(f"PAPER2RUN_BASE_URL={server.base_url}\nPAPER2RUN_MODEL=m\n")
        result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless",
                     cwd=work, env={**home, "NVIDIA_API_KEY": KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is not sent to" in result.stderr
    assert server.requests, "the model server got no call"
    assert all(KEY not in json.dumps(h) for h in server.headers)


def test_config_json_holds_every_setting_but_the_key(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    with ScriptedLlmServer([Reply(json.dumps(FAILING_PLAN))]) as server:
        env = {**home, "PAPER2RUN_API_KEY": KEY, "PAPER2RUN_BASE_URL": server.base_url, "PAPER2RUN_MODEL": "m1"}
        result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless",
                     "--memory", "3g", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run(tmp_path / "runs")
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["llm"]["model"] == "m1" and stored["llm"]["key_name"] == "api_key" and stored["llm"]["key_sent"]
    assert stored["limits"]["memory"] == "3g" and stored["sources"]["memory"] == "flag --memory"
    assert KEY not in (run_dir / "config.json").read_text()
    assert auth(server, 0) == f"Bearer {KEY}"


def test_model_flag_without_an_endpoint_is_an_error(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    result = cli("run", "--repo", str(repo), "--model", "x", "--dry-run", "--headless", cwd=tmp_path, env=home)
    assert result.returncode == 2 and "--model x needs an endpoint" in result.stderr
    assert result.stderr.count("needs an endpoint") == 1


def test_an_input_error_is_printed_once(tmp_path: Path, home: dict[str, str]) -> None:
    result = cli("run", "--repo", str(tmp_path / "missing"), "--out", str(tmp_path), "--headless", cwd=tmp_path,
                 env=home)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert output.count(str(tmp_path / "missing")) == 1, output


def test_implement_uses_the_model_of_the_users_config_file(tmp_path: Path, home: dict[str, str]) -> None:
    paper = tmp_path / "paper.md"
    paper.write_text("# A tiny paper\n\n## 1 Method\n\nWe train with a learning rate of 0.1.\n")
    with ScriptedLlmServer([Reply("not json")] * 4) as server:
        user = Path(home["PAPER2RUN_CONFIG_FILE"])
        user.write_text(f'model = "file-model"\nbase_url = "{server.base_url}"\napi_key = "{KEY}"\n')
        cli("implement", str(paper), "--no-run", "--out", str(tmp_path / "runs"), cwd=tmp_path, env=home)
    assert server.requests, "the model server got no call"
    assert {r["model"] for r in server.requests} == {"file-model"}
    assert auth(server, 0) == f"Bearer {KEY}"


@pytest.mark.docker
def test_resume_uses_the_model_settings_of_the_run_it_came_from(repo: Path, tmp_path: Path,
                                                                home: dict[str, str]) -> None:
    from docker_support import docker_or_fail

    docker_or_fail()
    out = tmp_path / "runs"
    stop = {"decision": "stop", "reason": "the install step exits 3 on purpose", "confidence": "high"}
    streamed = "The step fails on purpose.\n```json\n" + json.dumps(stop) + "\n```"
    with ScriptedLlmServer([Reply(json.dumps(FAILING_PLAN)), Reply(streamed)]) as server:
        env = {**home, "PAPER2RUN_API_KEY": KEY, "PAPER2RUN_BASE_URL": server.base_url, "PAPER2RUN_MODEL": "m-run"}
        first = cli("run", "--repo", str(repo), "--out", str(out), "--headless", "--memory", "1g", "--no-ca",
                    cwd=tmp_path, env=env)
        # the model's plan fails; the deterministic plan runs next (the floor) and fails without the CA bundle,
        # which a known-failure rule stops on: the model was asked for the first plan only
        assert first.returncode == 5, first.stdout + first.stderr
        assert len(server.requests) == 1
        past = only_run(out)
        # the resume is given neither the model nor the base URL: they come from the run's config.json
        env_now = {**home, "PAPER2RUN_API_KEY": KEY}
        resumed = cli("resume", str(past), "--attempt", "1", "--headless", cwd=tmp_path, env=env_now)
    new = only_run(out, but=past)
    # the replayed plan fails again; the deterministic plan already failed in the source run, so the model is
    # asked (with the source run's settings) and stops the run
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    assert len(server.requests) == 2 and server.requests[1]["model"] == "m-run"
    assert auth(server, 1) == f"Bearer {KEY}"
    m = meta(new)
    assert m.status == "stopped-by-llm" and m.model == "m-run" and m.repo_name == "demo"
    assert new.name.startswith("demo-") and [a.number for a in m.attempts] == [2]
    assert json.loads((new / "config.json").read_text())["limits"]["memory"] == "1g"


def test_resume_with_a_plan_file_runs_that_plan(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    out = tmp_path / "runs"
    assert cli("run", "--repo", str(repo), "--out", str(out), "--dry-run", "--headless", cwd=tmp_path,
               env=home).returncode == 0
    past = only_run(out)
    plan = json.loads((past / "attempts/01/plan.json").read_text())
    plan["env"] = {"EDITED_BY_TEST": "1"}
    (tmp_path / "mine.json").write_text(json.dumps(plan))
    result = cli("resume", str(past), "--attempt", "1", "--plan", str(tmp_path / "mine.json"), "--headless",
                 cwd=tmp_path, env=home)
    assert result.returncode == 0, result.stdout + result.stderr  # the old run was a dry run: so is its resume
    new = only_run(out, but=past)
    assert 'EDITED_BY_TEST="1"' in (new / "attempts/02/Dockerfile").read_text()
    bad = cli("resume", str(past), "--attempt", "1", "--plan", str(tmp_path / "nope.json"), "--headless",
              cwd=tmp_path, env=home)
    assert bad.returncode == 2 and "nope.json" in bad.stderr


def test_resume_with_edit_opens_the_editor_on_the_plan(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    out = tmp_path / "runs"
    assert cli("run", "--repo", str(repo), "--out", str(out), "--dry-run", "--headless", cwd=tmp_path,
               env=home).returncode == 0
    past = only_run(out)
    editor = tmp_path / "editor.py"
    editor.write_text("import json, sys\np = json.load(open(sys.argv[1]))\np['env'] = {'FROM_EDITOR': '1'}\n"
                      "json.dump(p, open(sys.argv[1], 'w'))\n")
    env = {**home, "EDITOR": f"{sys.executable} {editor}"}
    env.pop("VISUAL", None)
    result = cli("resume", str(past), "--attempt", "1", "--edit", "--headless", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    new = only_run(out, but=past)
    assert 'FROM_EDITOR="1"' in (new / "attempts/02/Dockerfile").read_text()


def test_the_context_window_setting_reaches_the_model_calls(repo: Path, tmp_path: Path, home: dict[str, str]) -> None:
    """`llm_context` in the user's config file (PAPER2RUN_LLM_CONTEXT, --llm-context): the plan prompt and its
    max_tokens fit in it, the run's metadata says the window and what was cut, a flag beats the file."""
    Path(home["PAPER2RUN_CONFIG_FILE"]).write_text("llm_context = 3000\n")
    with ScriptedLlmServer([Reply(json.dumps(FAILING_PLAN)), Reply(json.dumps(FAILING_PLAN))]) as server:
        env = {**home, "PAPER2RUN_BASE_URL": server.base_url, "PAPER2RUN_MODEL": "m1"}
        shown = cli("config", cwd=tmp_path, env=env)
        assert "llm_context" in shown.stdout and "3000" in shown.stdout and "config file" in shown.stdout
        result = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--dry-run", "--headless",
                     cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        flagged = cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs2"), "--dry-run", "--headless",
                      "--llm-context", "2048", cwd=tmp_path, env=env)
        assert flagged.returncode == 0, flagged.stdout + flagged.stderr
    for body, window in zip(server.requests, (3000, 2048), strict=True):  # prompt + answer within each window
        assert body["max_tokens"] >= 256 and estimate_tokens(body["messages"]) + body["max_tokens"] <= window
    assert server.gets == []  # a window the person set is not asked of the server
    calls = meta(only_run(tmp_path / "runs")).llm_calls
    assert calls[0].context_window == 3000
    assert json.loads((only_run(tmp_path / "runs") / "config.json").read_text())["llm"]["context_tokens"] == 3000
    assert meta(only_run(tmp_path / "runs2")).llm_calls[0].context_window == 2048


def test_a_context_window_that_is_not_a_number_is_a_config_error(repo: Path, tmp_path: Path,
                                                                  home: dict[str, str]) -> None:
    env = {**home, "PAPER2RUN_BASE_URL": "http://127.0.0.1:9/v1", "PAPER2RUN_MODEL": "m1", "PAPER2RUN_LLM_CONTEXT": "8k"}
    result = cli("run", "--repo", str(repo), "--dry-run", "--headless", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "llm_context='8k'" in result.stderr and "PAPER2RUN_LLM_CONTEXT" in result.stderr


def test_implement_fix_rounds_flag_over_the_config_file(tmp_path: Path, home: dict[str, str]) -> None:
    """--fix-rounds goes through the one resolver: the flag beats the config file's fix_rounds, `config` names the
    source, and a value out of ImplementConfig's range is refused with its flag before anything runs."""
    from test_implement import GOOD, PAPER, staged

    bad = {**GOOD, "src/model.py": GOOD["src/model.py"].replace("§3.1", "§9.9")}
    stubborn = Reply(json.dumps({"content": bad["src/model.py"]}))
    user = Path(home["PAPER2RUN_CONFIG_FILE"])
    user.write_text("fix_rounds = 3\n")
    shown = cli("config", cwd=tmp_path, env=home).stdout
    assert any(line.startswith("fix_rounds") and "3" in line and "config file" in line for line in shown.splitlines())
    with ScriptedLlmServer(staged(bad) + [stubborn] * 4) as server:
        env = {**home, "PAPER2RUN_BASE_URL": server.base_url, "PAPER2RUN_MODEL": "m"}
        result = cli("implement", str(PAPER), "--no-run", "--fix-rounds", "0", "--out", str(tmp_path / "runs"),
                     cwd=tmp_path, env=env)
    prompts = [json.dumps(r) for r in server.requests]
    assert len(prompts) == 1 + len(staged(bad)) - 1, result.stdout + result.stderr  # the plan and the files, no fix
    assert not any("The citation check found these problems" in p for p in prompts)
    folder = only_run(tmp_path / "runs")
    stages = [r["stage"] for r in json.loads((folder / "generation" / "rounds.json").read_text())]
    assert "citation-fix" not in stages and stages[0] == "plan"
    refused = cli("implement", str(PAPER), "--no-run", "--fix-rounds", "9", "--out", str(tmp_path / "r2"),
                  cwd=tmp_path, env=home)
    assert refused.returncode != 0 and "--fix-rounds (flag --fix-rounds): 9 is not a number of rounds" in refused.stderr
    assert not (tmp_path / "r2").exists()


async def test_a_tui_rerun_uses_the_model_settings_of_the_run_it_came_from(repo: Path, tmp_path: Path,
                                                                          home: dict[str, str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run made headless with the model from the environment; the app's re-run (r on the past run), with only
    the key in the environment now, asks the same model at the same endpoint, which must get the call."""
    from tui_scenes import wait_until

    from paper2run_tui.tui.app import Paper2RunApp
    from paper2run_tui.tui.screens.run import RunScreen

    out = tmp_path / "runs"
    with ScriptedLlmServer([Reply(json.dumps(FAILING_PLAN)), Reply(json.dumps(FAILING_PLAN))]) as server:
        env = {**home, "PAPER2RUN_API_KEY": KEY, "PAPER2RUN_BASE_URL": server.base_url, "PAPER2RUN_MODEL": "m-rerun"}
        first = cli("run", "--repo", str(repo), "--out", str(out), "--headless", "--dry-run", "--memory", "1g",
                    cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert len(server.requests) == 1
        past = only_run(out)
        for name in [k for k in os.environ if k.startswith(("PAPER2RUN_", "OPENAI_")) or k.endswith("API_KEY")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("PAPER2RUN_CONFIG_FILE", home["PAPER2RUN_CONFIG_FILE"])
        monkeypatch.setenv("PAPER2RUN_API_KEY", KEY)
        monkeypatch.chdir(tmp_path)  # no .env of the checkout
        app = Paper2RunApp("home", None, out)
        async with app.run_test(size=(120, 40)) as pilot:
            app.open_run(past)
            await pilot.pause()
            await pilot.press("r")
            await pilot.pause()
            again = app.screen
            assert isinstance(again, RunScreen) and again.job.config is not None
            assert again.job.config.llm.model == "m-rerun" and again.job.config.limits.memory == "1g"
            await wait_until(pilot, lambda: again.outcome is not None, timeout=60)
    assert again.outcome is not None and again.outcome.status == "dry-run", again.outcome
    assert len(server.requests) == 2 and server.requests[1]["model"] == "m-rerun"
    assert auth(server, 1) == f"Bearer {KEY}"
    new = only_run(out, but=past)
    assert meta(new).model == "m-rerun"
    assert json.loads((new / "config.json").read_text())["limits"]["memory"] == "1g"
