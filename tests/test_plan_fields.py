"""The plan's dependency section: data the renderer turns into RUN steps, that the planner fills and the repairs
edit by field. No planner or rule code reads or rewrites the text of a shell step (a grep enforces it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.contracts.dependencies import (
    DependencySection,
    IndexedPackages,
    PackageStep,
    RequirementFile,
    ResolveAsOf,
)
from paper2run_tui.engine.plan.time_travel import travelled_by, with_time_travel, without_time_travel
from paper2run_tui.engine.render.dockerfile import render_dockerfile
from paper2run_tui.engine.render.install import failing_origin, install_commands, source_commands

ENGINE = Path(__file__).resolve().parents[1] / "paper2run_tui" / "engine"
#: Where plans are made and repaired: none of it may touch a step's text.
FIELD_EDITORS = [*sorted((ENGINE / "plan").rglob("*.py")), *sorted((ENGINE / "diagnose" / "rules").rglob("*.py")),
                 ENGINE / "diagnose" / "rules_diagnoser.py"]
#: Reading or writing the plan's shell steps by name, or editing any text with the idioms that did it.
STRING_SURGERY = re.compile(r"\binstall_steps\b|\bsource_steps\b|PIP_UPLOADED_PRIOR_TO=\S* &&|--no-build-isolation"
                            r"|\bsed -i\b|printf '%s")


def test_no_planner_or_rule_code_reads_or_rewrites_shell_steps() -> None:
    found = [f"{path.relative_to(ENGINE)}:{n}: {line.strip()}" for path in FIELD_EDITORS
             for n, line in enumerate(path.read_text().splitlines(), 1) if STRING_SURGERY.search(line)]
    assert len(FIELD_EDITORS) > 10 and found == []


def test_the_grep_catches_string_surgery(tmp_path: Path) -> None:
    for line in ('steps = [s.replace("-c x ", "") for s in plan.install_steps]',
                 'f"export PIP_UPLOADED_PRIOR_TO={when} && {s}"', 'f"{s} --no-build-isolation"'):
        assert STRING_SURGERY.search(line), line


SECTION = DependencySection(
    python="3.11", pip="pip",
    indexes=[IndexedPackages(packages=["torch==2.1.0"], index_url="https://download.pytorch.org/whl/cpu")],
    requirement_files=[RequirementFile(path="requirements.txt")], test_packages=["pytest"], project="editable",
)
PLAN = EnvPlan(base_image="python:3.11-slim", python_version="3.11", dependencies=SECTION, smoke_command="true")


def test_the_section_renders_in_layers_with_the_project_after_the_source() -> None:
    assert install_commands(PLAN) == [
        "python -m pip install --upgrade pip setuptools wheel",
        "pip install --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu torch==2.1.0 || "
        "pip install torch==2.1.0",
        "pip install -r requirements.txt", "pip install pytest"]
    assert source_commands(PLAN) == ["pip install --no-deps -e ."]


def test_a_plan_without_a_section_renders_its_steps_as_before_and_keeps_its_fingerprint() -> None:
    old = EnvPlan.model_validate({"base_image": "python:3.11-slim", "install_steps": ["pip install six"],
                                  "smoke_command": "true"})
    assert old.dependencies is None and install_commands(old) == ["pip install six"]
    assert "dependencies" not in old.model_dump_json(exclude={"notes", "dependencies"})
    assert old.fingerprint() == EnvPlan.model_validate_json(old.model_dump_json()).fingerprint()


def test_extras_follow_the_section_and_repairs_go_where_the_layers_stay_cached() -> None:
    section = SECTION.model_copy(update={"additions": [
        PackageStep(packages=["numpy<2"]), PackageStep(packages=["setuptools<81"], stage="before-dependencies"),
        PackageStep(packages=["wheel"], stage="before-indexes")]})
    plan = PLAN.model_copy(update={"dependencies": section, "install_steps": ["echo extra"]})
    steps = install_commands(plan)
    assert steps.index("pip install wheel") < 2 < steps.index("pip install 'setuptools<81'")
    assert steps.index("pip install 'setuptools<81'") < steps.index("pip install -r requirements.txt")
    assert steps[-2:] == ["echo extra", "pip install 'numpy<2'"]


def test_resolve_as_of_is_a_field_with_who_chose_it_and_undoing_it_restores_the_steps() -> None:
    travelled = with_time_travel(PLAN, datetime(2021, 6, 1, tzinfo=UTC), "repair", "repair: old")
    assert travelled.dependencies is not None
    assert travelled.dependencies.resolve_as_of == ResolveAsOf(date="2021-06-01T00:00:00Z", by="repair")
    assert travelled_by(travelled) == "repair" and travelled.exclude_newer == "2021-06-01"
    steps = install_commands(travelled)
    assert steps[0] == "python -m pip install --upgrade 'pip>=25.3'"
    assert all(s.startswith("export PIP_UPLOADED_PRIOR_TO=2021-06-01T00:00:00Z && ") for s in steps[1:])
    assert install_commands(without_time_travel(travelled, "today")) == install_commands(PLAN)


def test_values_are_quoted_where_they_are_written() -> None:
    hostile = SECTION.model_copy(update={"packages": ["six; touch /tmp/x", "a b"], "requirement_files": []})
    steps = install_commands(PLAN.model_copy(update={"dependencies": hostile}))
    assert "pip install 'six; touch /tmp/x' 'a b'" in steps


def test_the_failing_step_is_told_by_the_field_that_wrote_it(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    text = render_dockerfile(PLAN, facts=None, repo_dir=tmp_path)
    assert 'COPY ["requirements.txt", "/repo/requirements.txt"]' in text
    failing = next(line for line in text.splitlines() if line.startswith("RUN pip install -r"))
    assert failing_origin(PLAN, failing) == "requirements"
    assert failing_origin(PLAN, "RUN something else") is None and failing_origin(PLAN, None) is None
