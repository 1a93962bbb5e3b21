"""INSTRUCTIONS.md and report.md: what a person reads after the run."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ... import __version__
from ..build.limits import SMOKE_USER
from ..contracts import EnvPlan, RepoFacts, RunMetadata
from .dockerfile import environment
from .install import install_commands, source_commands

#: What each final status means, for the report's first paragraph.
VERDICTS: dict[str, str] = {
    "success": "The image built and the smoke command passed: the environment works at the rung recorded above.",
    "dry-run": "Dry run: the plan and Dockerfile were produced but nothing was built or run.",
    "preflight-failed": "The Docker engine (or the base image) was not usable, so nothing was built.",
    "stopped-by-llm": "The model judged the failure unfixable with a new environment, and explained why below.",
    "stopped-by-rules": "A known failure was recognised that a new environment cannot fix, or no known fix applied.",
    "max-attempts-exhausted": "Every attempt failed; repairs were still being proposed when the attempts ran out.",
    "smoke-failed": "The smoke command failed and no diagnosis was produced.",
    "rejected-by-user": "A person rejected the proposed plan, so the run stopped there.",
    "rejected-by-policy": "The approval policy (--approve never) rejected the repair plan, so the run stopped there.",
    "refused-by-plan-policy": "The plan policy refused the plan (the reason is above; every finding is in "
    "attempts/NN/policy.json), so nothing was built from it.",
    "interrupted": "The run was interrupted (Ctrl-C, SIGTERM, SIGHUP or quit) before it finished; everything up to "
                   "then is recorded.",
    "engine-lost": "The connection to the Docker engine was lost during a build or smoke run, so that attempt has "
                   "no result; everything up to then is recorded.",
    "unsupported": "This repository is not one paper2run-tui can build yet.",
    "exception": "paper2run-tui itself failed; the traceback is in logs/exception.txt. Please report it.",
    "input-error": "The input could not be used (see the reason above).",
}

NEXT_STEPS: dict[str, list[str]] = {
    "preflight-failed": [
        "Start the Docker engine (`sudo systemctl start docker`, or Docker Desktop) and check `docker info`.",
        "On Linux, add yourself to the `docker` group and log in again if the socket says permission denied.",
        "If the base image is missing and no registry is reachable, build or load it locally, or map another "
        "image with PAPER2RUN_BASE_IMAGE_MAP.",
    ],
    "stopped-by-llm": ["Read attempts/NN/diagnosis.json for the model's reason.",
                       "Rerun with a higher --max-attempts, or resume from the last attempt with an edited plan."],
    "stopped-by-rules": ["Read the diagnosis of the last attempt below; it names the failure and what would fix it.",
                         "Configure an LLM endpoint (see README) for failures no rule knows, or edit the plan and "
                         "resume from the last attempt."],
    "max-attempts-exhausted": ["Rerun with a higher --max-attempts, or resume from the last attempt with an "
                               "edited plan (the TUI's runs browser)."],
    "smoke-failed": ["Read attempts/NN/smoke_stderr.log; edit the smoke command if it needs data or a GPU."],
    "refused-by-plan-policy": [
        "Read attempts/NN/policy.json: each finding names the field and why it was refused or flagged.",
        "Rerun with --approve ask to decide flagged plans yourself, or allow a base image with --allow-base-image.",
    ],
    "rejected-by-user": ["Resume from the last attempt and edit the plan, or rerun with --approve auto."],
    "engine-lost": ["Check the engine (`docker info`), then resume the run from its last attempt "
                    "(`paper2run-tui resume RUN_DIR`); the resume removes what the lost attempt left on the engine."],
    "rejected-by-policy": ["Resume from the last attempt with --approve ask (or auto) to apply the repair."],
    "interrupted": ["Resume the run from its last attempt (runs browser), or start it again."],
    "exception": ["Look at logs/exception.txt; rerun with the same arguments once fixed."],
    "unsupported": ["Only Python repositories are built today; the facts above say what was found."],
}


def docker_commands(run_id: str, plan: EnvPlan, image_tag: str | None) -> tuple[str, str, str]:
    tag = image_tag or f"paper2run/{run_id.lower()}:latest"
    gpus = "--gpus all " if plan.requires_gpu else ""
    build = f"docker build -t {shlex.quote(tag)} -f Dockerfile repo"
    run = f"docker run --rm {gpus}{shlex.quote(tag)}"
    shell = f"docker run --rm -it {gpus}{shlex.quote(tag)} /bin/bash"
    return build, run, shell


def render_instructions(
    meta: RunMetadata, plan: EnvPlan, *, ca_bundle_hint: str | None = None
) -> str:
    build, run, shell = docker_commands(meta.run_id, plan, meta.image_tag)
    tag = shlex.quote(meta.image_tag or f"paper2run/{meta.run_id.lower()}:latest")
    gpus = "--gpus all " if plan.requires_gpu else ""
    smoked = [a for a in meta.attempts if a.smoke_user]
    outcome = {"exit-0": "the smoke command exited 0", "alive-at-timeout": "the smoke command was still running at "
               "the timeout, which counts as success for servers and long trainings"}.get(meta.smoke_outcome or "", "")
    return environment().get_template("INSTRUCTIONS.md.j2").render(
        repo_name=meta.repo_name or meta.repo,
        tool_version=__version__,
        run_id=meta.run_id,
        commit=meta.commit_sha,
        status=meta.status,
        smoke_outcome_text=outcome,
        build_command=build,
        run_command=run,
        shell_command=shell,
        smoke_user=SMOKE_USER,
        smoke_as_root=bool(smoked) and (smoked[-1].smoke_user or "").startswith("root"),
        nonroot_run_command=f"docker run --rm --user {SMOKE_USER} --cap-drop ALL --security-opt no-new-privileges "
                            f"-e HOME=/tmp --tmpfs /tmp {gpus}{tag}",
        root_shell_command=f"docker run --rm -it --user 0 {gpus}{tag} /bin/bash",
        ca_bundle=ca_bundle_hint,
        plan=plan,
        install_step_count=len(install_commands(plan)) + len(source_commands(plan)),
    )


def render_report(meta: RunMetadata, facts: RepoFacts | None, messages: Sequence[str] = ()) -> str:
    return environment().get_template("report.md.j2").render(
        meta=meta,
        facts=facts,
        attempts=meta.attempts,
        verdict=VERDICTS.get(meta.status, meta.status),
        next_steps=NEXT_STEPS.get(meta.status, []),
        messages=list(messages),
    )
