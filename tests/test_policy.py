"""The plan policy (one function, every plan) and the renderer's second wall: hostile plans rendered directly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hostile_plans import BY_NAME, CATALOGUE, SAFE, Hostile

from paper2run_tui.engine.contracts import EnvPlan, PolicyContext, PolicyVerdict
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.policy import check_plan
from paper2run_tui.engine.policy.images import image_allowed
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.dockerfile import UnsafeValue, dockerfile_inputs, render_from_inputs

HEADLESS = PolicyContext()
PERSON = PolicyContext(person_reviews=True)


def unvalidated(data: dict) -> EnvPlan:
    """A plan built without EnvPlan's validators, as a plan that bypassed them would be."""
    return EnvPlan.model_construct(**data)


def findings(h: Hostile, ctx: PolicyContext = HEADLESS) -> PolicyVerdict:
    return check_plan(unvalidated(h.data()), ctx, source="llm")


def test_a_safe_plan_passes() -> None:
    verdict = check_plan(EnvPlan.model_validate(SAFE), HEADLESS, source="deterministic")
    assert verdict.findings == [] and not verdict.blocks and verdict.status == "passed"


@pytest.mark.parametrize("hostile", CATALOGUE, ids=lambda h: h.name)
def test_every_hostile_plan_gets_its_finding(hostile: Hostile) -> None:
    verdict = findings(hostile)
    hits = [f for f in verdict.findings if f.field == hostile.field and f.rule == hostile.rule]
    assert hits, verdict.lines()
    assert hits[0].severity == hostile.severity and len(hits[0].reason) > 20
    assert verdict.blocks, "headless, a refusal or a flag blocks the plan"
    if hostile.severity == "flag":
        assert not findings(hostile, PERSON).blocks, "a person may accept a flag"
        assert not findings(hostile, PERSON).refused
    else:
        assert findings(hostile, PERSON).blocks, "a refusal blocks even with a person"


def test_the_smuggled_add_is_named_in_the_reason() -> None:
    reason = findings(BY_NAME["install-step-add-url"]).findings[0].reason
    assert "ADD http://127.0.0.1:9/secret" in reason and "daemon" in reason


def test_notes_may_hold_line_breaks() -> None:
    plan = EnvPlan.model_validate({**SAFE, "notes": "- one\n- two\r\n"})
    assert check_plan(plan, HEADLESS).findings == []


@pytest.mark.parametrize("image", [
    "python:3.11-slim", "python:3.9", "python:3.12.4-slim-bookworm", "docker.io/library/python:3.13-slim",
    "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04", "python:3.11-slim@sha256:" + "a" * 64,
])
def test_the_planner_families_are_allowed(image: str) -> None:
    assert image_allowed(image, {}, [])


@pytest.mark.parametrize("image", ["ubuntu:22.04", "evil/python:3.11-slim", "ghcr.io/x/python:3.11-slim",
                                   "python:latest", "nvidia/cuda:latest"])
def test_other_images_are_refused_until_allowed(image: str) -> None:
    plan = EnvPlan.model_validate({**SAFE, "base_image": image})
    verdict = check_plan(plan, HEADLESS)
    assert [f.rule for f in verdict.findings] == ["base-image"]
    assert "--allow-base-image" in verdict.findings[0].reason
    assert check_plan(plan, PolicyContext(allowed_base_images=[image])).findings == []
    assert check_plan(plan, PolicyContext(base_image_map={"3.11": image})).findings == []
    prefix = image.split(":")[0] + ":*"
    assert check_plan(plan, PolicyContext(allowed_base_images=[prefix])).findings == []


def test_known_indexes_and_package_locations_are_not_flagged() -> None:
    plan = EnvPlan.model_validate({**SAFE, "install_steps": [
        "pip install --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu torch || pip install torch",
        "pip install -f https://data.pyg.org/whl/torch-2.1.0+cpu.html torch-scatter",
        "sed -i -E 's/^(numpy)[[:space:]]*[=<>~!]=?[^;#]*/\\1/I' $(ls requirements*.txt 2>/dev/null) || true",
        "cp /workspace/patch.py /usr/local/lib/python3.11/site-packages/x.py && rm -rf /tmp/build",
        "python -m nltk.downloader -d /usr/share/nltk_data punkt > /dev/null",
    ], "workdir": "/workspace"})
    assert check_plan(plan, HEADLESS).findings == []


@pytest.mark.parametrize("name", ["demo-requirements", "demo-project"])
def test_the_deterministic_planner_passes_its_own_policy(make_repo, name: str) -> None:
    files = {"demo/__init__.py": "import numpy\nimport torch\n", "README.md": "# demo\n"}
    files |= ({"requirements.txt": "numpy==1.26.4\ntorch==2.1.0+cu118\n"} if name == "demo-requirements" else
              {"pyproject.toml": "[project]\nname='demo'\ndependencies=['numpy','torch']\n"})
    repo = make_repo(files, name=name)
    from paper2run_tui.engine.analyze import analyze_repo

    facts = analyze_repo(repo, name=name)
    plan = DeterministicPlanner().plan(PlanContext(facts=facts, repo_dir=repo), ListSink(), CancelToken()).plan
    assert check_plan(plan, HEADLESS, source="deterministic").findings == []


# --- the renderer's second wall --------------------------------------------------------------------------

#: Instructions as the template writes them, in order.
_INSTRUCTION = re.compile(r"^([A-Z]+)\b")


def instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions as Docker's parser sees them: comments dropped, continuations joined."""
    out: list[str] = []
    joined = ""
    for line in dockerfile.split("\n"):
        if not joined and (not line.strip() or line.lstrip().startswith("#")):
            continue
        joined += line
        if joined.endswith("\\"):
            joined = joined[:-1]
            continue
        out.append(joined)
        joined = ""
    if joined:
        out.append(joined)
    return out


def expected_instructions(plan: EnvPlan, manifests: int) -> list[str]:
    keys = ["FROM", "ENV"] + (["RUN"] if plan.system_packages else []) + ["WORKDIR"] + ["COPY"] * manifests
    keys += ["RUN"] * len(plan.install_steps) + ["COPY"] + ["RUN"] * len(plan.source_steps)
    keys += (["ENV"] if plan.env else []) + ["LABEL", "CMD"]
    return keys


@pytest.fixture
def inputs(make_repo):
    repo = make_repo({"requirements.txt": "six\n"})
    return dockerfile_inputs(facts=None, repo_dir=repo)


def test_a_safe_render_has_only_the_templates_instructions(inputs) -> None:
    plan = EnvPlan.model_validate({**SAFE, "env": {"A": "x&y<z>'\"\\$HOME"}, "source_steps": ["pip install -e ."]})
    text = render_from_inputs(plan, inputs)
    keys = [_INSTRUCTION.match(i).group(1) for i in instructions(text)]  # type: ignore[union-attr]
    assert keys == expected_instructions(plan, manifests=1)
    assert 'ENV A="x&y<z>\'\\"\\\\$HOME"' in text  # quoted, not JSON's \\u0026 (which Docker would keep verbatim)
    cmd = next(i for i in instructions(text) if i.startswith("CMD "))
    assert json.loads(cmd[4:]) == ["/bin/sh", "-c", plan.smoke_command]


@pytest.mark.parametrize("hostile", [h for h in CATALOGUE if h.severity == "refuse" and h.rule != "too-large"
                                     and h.rule != "base-image"], ids=lambda h: h.name)
def test_a_refused_plan_that_bypassed_the_policy_still_cannot_add_instructions(inputs, hostile: Hostile) -> None:
    plan = unvalidated(hostile.data())
    try:
        text = render_from_inputs(plan, inputs)
    except UnsafeValue as err:
        assert str(err)
        return
    # Neutralised instead: escaped in place (the smoke command lives in CMD's JSON).
    keys = [_INSTRUCTION.match(i).group(1) for i in instructions(text)]  # type: ignore[union-attr]
    assert keys == expected_instructions(plan, manifests=1)
    assert "\nRUN id" not in text and "\nUSER" not in text and "\nADD" not in text


def test_policy_json_round_trips(tmp_path: Path) -> None:
    verdict = findings(BY_NAME["pipe-to-shell"])
    assert PolicyVerdict.model_validate_json(verdict.model_dump_json()) == verdict


@pytest.mark.parametrize("rule_id", __import__("test_rules").RULE_IDS)
def test_every_rule_repair_passes_the_policy(rule_id: str, tmp_path: Path) -> None:
    """A known-failure rule's repair runs headless (auto-approved): it must be a plan the policy lets through."""
    from datetime import UTC, datetime

    from test_rules import FIXTURES, context, diagnose

    smoke_rules = ("data-file-missing", "smoke-command-not-found", "cuda-on-cpu", "needs-terminal")
    outcome = "smoke-failed" if rule_id in smoke_rules else "build-failed"
    ctx = context(tmp_path, (FIXTURES / f"{rule_id}.log").read_text(), outcome,
                  commit_date=datetime(2020, 6, 1, tzinfo=UTC), local_modules=["model"])
    decision = diagnose(ctx)
    if decision.new_plan is not None:
        assert check_plan(decision.new_plan, HEADLESS, source="rules").findings == [], rule_id


@pytest.mark.docker
def test_env_values_reach_the_image_exactly_as_written(make_repo) -> None:
    """Quoted for the Dockerfile's ENV, not JSON-escaped: `&`, `<`, quotes, backslashes and non-ASCII arrive intact."""
    from docker_support import docker_or_fail

    from paper2run_tui.engine.build.base import BuildRequest
    from paper2run_tui.engine.build.cleanup import cleanup
    from paper2run_tui.engine.build.docker_executor import DockerExecutor
    from paper2run_tui.engine.config import DockerLimits

    client = docker_or_fail()
    repo = make_repo({"x.py": "print(1)\n"})
    values = {"AMP": "a&b<c>d", "QUOTES": "it's \"quoted\"", "BACKSLASH": "C:\\path\\n", "UNICODE": "café ü"}
    plan = EnvPlan.model_validate({**SAFE, "install_steps": [], "env": values})
    text = render_from_inputs(plan, dockerfile_inputs(facts=None, repo_dir=repo))
    request = BuildRequest(attempt=1, context_dir=repo, dockerfile=text, tag="paper2run/test-policy-env:1",
                           labels={"org.paper2run.managed": "true", "org.paper2run.run": "test-policy-env"})
    built = DockerExecutor(DockerLimits()).build(request, ListSink(), CancelToken())
    try:
        assert built.ok, built.error
        env = dict(item.split("=", 1) for item in client.images.get(request.tag).attrs["Config"]["Env"])
        assert {k: env[k] for k in values} == values
    finally:
        cleanup(client, run_id="test-policy-env")
