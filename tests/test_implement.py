"""Paper to code: extraction, the citation check, the no-LLM output, and generation through a real local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_server import Reply, ScriptedLlmServer

from paper2run_tui.engine.acquire.paper import load_paper
from paper2run_tui.engine.config import LlmSettings
from paper2run_tui.engine.contracts import PaperInfo
from paper2run_tui.engine.implement.citations import CitationChecker
from paper2run_tui.engine.implement.config import ImplementConfig
from paper2run_tui.engine.implement.extract import enrich_paper
from paper2run_tui.engine.implement.runner import run_implement
from paper2run_tui.engine.ports import CancelToken, ListSink

PAPER = Path(__file__).parent / "fixtures" / "papers" / "tiny_transformer.md"


@pytest.fixture(scope="module")
def paper() -> PaperInfo:
    return enrich_paper(load_paper(str(PAPER), cache_dir=Path("/tmp/p2r-cache"), sink=ListSink(), cancel=CancelToken()))


def test_sections_equations_tables_and_hyperparameters(paper: PaperInfo) -> None:
    assert [s.number for s in paper.sections if s.number] == ["1", "3", "3.1", "3.2", "5", "5.1", "5.2"]
    assert [(e.number, e.section) for e in paper.equations] == [("1", "3.2"), ("2", "3.2")]
    assert [(t.number, t.caption) for t in paper.tables] == [("1", "Hyperparameters of the tiny model.")]
    hp = {h.name: (h.value, h.section) for h in paper.hyperparameters}
    assert hp == {"num_layers": ("2", "3.1"), "num_heads": ("4", "3.1"), "d_model": ("64", "3.1"), "d_ff": ("256", "3.2"),
                  "beta1": ("0.9", "5.1"), "beta2": ("0.98", "5.1"), "epsilon": ("1.0e-9", "5.1"), "optimizer": ("adam", "5.1"),
                  "learning_rate": ("0.001", "5.1"), "warmup_steps": ("400", "5.1"), "dropout": ("0.1", "5.2"),
                  "label_smoothing": ("0.1", "5.2"), "batch_size": ("32", "5.2")}
    lr = next(h for h in paper.hyperparameters if h.name == "learning_rate")
    assert lr.quote == "The learning rate was 0.001 with warmup_steps = 400."
    d_ff = next(h for h in paper.hyperparameters if h.name == "d_ff")
    assert d_ff.quote == "We set d_ff = 256 in all layers."  # the numbered equation before it ends its own sentence


GOOD = {
    "src/model.py": '# §3.1 — "a stack of N = 2 identical layers"\nimport numpy as np\n\n\nclass Model:  # §3.2, Eq. 1\n'
                    "    def __init__(self, d_model=64):\n        self.w = np.zeros((d_model, d_model))\n\n"
                    "    def __call__(self, x):\n        return x @ self.w\n",
    "configs/base.yaml": 'd_model: 64  # §3.1 — "d_model = 64"\nlearning_rate: 0.001  # §5.1\n'
                         "seed: 0  # [UNSPECIFIED] not stated; alternatives: 1, 42\n",
    "smoke_shapes.py": "import numpy as np\nfrom src.model import Model\n\nprint(Model()(np.ones((2, 64))).shape)\n",
    "src/__init__.py": "",
    "requirements.txt": "numpy==1.26.4\n",
}


def test_the_check_passes_good_citations(paper: PaperInfo) -> None:
    report = CitationChecker(paper).check(GOOD)
    assert report.ok, report.markdown()
    assert report.citations == 5


def test_the_check_catches_each_kind_of_violation(paper: PaperInfo) -> None:
    bad = {
        "src/model.py": "# §7.4 — the decoder\nx = 1  # §3.2, Eq. 9\n# §5.1 — \"we trained for a million years\"\n",
        "configs/base.yaml": 'batch_size: 64  # §5.2 — "Each batch contained 32 sequences per batch."\nwarmup: 4000\n'
                             "d_ff: 2048  # §3.2\n",
    }
    kinds = sorted((v.kind, v.file, v.line) for v in CitationChecker(paper).check(bad).violations)
    assert kinds == sorted([
        ("uncited-config", "configs/base.yaml", 2), ("value-mismatch", "configs/base.yaml", 1),
        ("value-mismatch", "configs/base.yaml", 3), ("unknown-section", "src/model.py", 1),
        ("unknown-equation", "src/model.py", 2), ("misquote", "src/model.py", 3)])


def test_without_an_llm_the_output_is_cited_config_and_audit_only(tmp_path: Path) -> None:
    outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, cache_dir=tmp_path / "c"), ListSink(), None,
                            CancelToken())
    assert not outcome.generated_code and outcome.run is None and outcome.exit_code == 0
    assert outcome.citations.ok, outcome.citations.markdown()
    files = sorted(p.relative_to(outcome.folder).as_posix() for p in outcome.folder.rglob("*") if p.is_file())
    assert files == ["README.md", "REPRODUCTION_NOTES.md", "citations.json", "configs/base.yaml", "paper.json"]
    config = (outcome.folder / "configs/base.yaml").read_text()
    assert 'learning_rate: 0.001  # §5.1 — "The learning rate was 0.001 with warmup_steps = 400."' in config
    assert "epochs: 10  # [UNSPECIFIED]" in config
    notes = (outcome.folder / "REPRODUCTION_NOTES.md").read_text()
    assert "**No code was generated**" in notes and "| learning_rate | 0.001 | §5.1 |" in notes
    assert "No code was generated" in (outcome.folder / "README.md").read_text()


CODE = [p for p in GOOD if p != "configs/base.yaml"]


def staged(files: dict[str, str], *, notes: str = "", order: list[str] | None = None) -> list[Reply]:
    """The scripted answers of a staged generation: the plan (file list, specs, the config), then each file."""
    order = order or CODE
    plan = {"files": [{"path": p, "spec": f"the {p} of the paper"} for p in order], "config": files["configs/base.yaml"],
            "notes": notes}
    return [Reply(json.dumps(plan))] + [Reply(json.dumps({"content": files[p]})) for p in order]


def rounds_of(folder: Path) -> list[dict]:
    return json.loads((folder / "generation" / "rounds.json").read_text())


def test_generation_in_stages_writes_file_by_file_with_the_earlier_files_as_context(tmp_path: Path) -> None:
    order = ["src/model.py", "smoke_shapes.py", "src/__init__.py", "requirements.txt"]
    with ScriptedLlmServer(staged(GOOD, notes="the paper leaves the init open", order=order)) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                ListSink(), None, CancelToken())
    assert outcome.generated_code and outcome.citations.ok and outcome.exit_code == 0
    assert len(server.requests) == 1 + len(order)  # the plan, then one request per file, no fix round needed
    assert "Stage 1 of 3: the plan" in server.user_prompt(0)
    assert "Stage 2: write src/model.py now" in server.user_prompt(1)
    # the second file is written with the first (and the plan's config) in view
    second = server.user_prompt(2)
    assert "Stage 2: write smoke_shapes.py now" in second and GOOD["src/model.py"].splitlines()[0] in second
    assert 'd_model: 64  # §3.1 — "d_model = 64"' in second and "- smoke_shapes.py: the smoke_shapes.py of the paper" in second
    for rel, content in GOOD.items():
        assert (outcome.folder / rel).read_text() == content
    stages = [(r["stage"], r["files"]) for r in rounds_of(outcome.folder)]
    assert stages == [("plan", [*order, "configs/base.yaml"])] + [("write", [p]) for p in order]
    assert "the paper leaves the init open" in (outcome.folder / "REPRODUCTION_NOTES.md").read_text()


def test_citation_violations_go_back_to_the_model_and_each_round_is_recorded(tmp_path: Path) -> None:
    bad = {**GOOD, "src/model.py": GOOD["src/model.py"].replace("§3.1", "§9.9"),
           "configs/base.yaml": GOOD["configs/base.yaml"].replace('"d_model = 64"', '"d_model = 128"') + "epochs: 5\n"}
    fixes = [Reply(json.dumps({"content": GOOD["configs/base.yaml"]})), Reply(json.dumps({"content": GOOD["src/model.py"]}))]
    sink = ListSink()
    with ScriptedLlmServer(staged(bad) + fixes) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                sink, None, CancelToken())
    assert outcome.generated_code and outcome.citations.ok and outcome.exit_code == 0
    n = 1 + len(CODE)
    config_fix, model_fix = server.user_prompt(n), server.user_prompt(n + 1)  # one request per file, by path
    assert "The citation check found these problems in configs/base.yaml" in config_fix
    assert "epochs: 5 has neither a citation nor a flag" in config_fix and '"d_model = 128" does not occur' in config_fix
    assert "d_model: 64 is not the value the quoted sentence gives" in config_fix
    assert "problems in src/model.py" in model_fix and "§9.9 is not a section of the paper" in model_fix
    assert len(server.requests) == n + 2
    saved = json.loads((outcome.folder / "citations.json").read_text())
    assert saved["violations"] == [] and saved["citations"] == outcome.citations.citations > 0
    assert (outcome.folder / "src/model.py").read_text() == GOOD["src/model.py"]
    fix_rounds = [r for r in rounds_of(outcome.folder) if r["stage"] == "citation-fix"]
    assert len(fix_rounds) == 1 and fix_rounds[0]["files"] == ["configs/base.yaml", "src/model.py"]
    assert any("§9.9" in v for v in fix_rounds[0]["violations_before"]) and fix_rounds[0]["violations_after"] == []
    assert "asking the model to fix them (round 1 of 2)" in " ".join(e.text for e in sink.events if e.kind == "message")


def test_a_model_that_never_fixes_its_citations_cannot_make_the_output_worse(tmp_path: Path) -> None:
    """The config still cites a wrong value after both fix rounds: it is set aside and the config read from the
    paper takes its place; the code that agrees with the paper stays. The folder passes its own check, and the exit
    code says problems remained (10)."""
    bad = {**GOOD, "configs/base.yaml": "d_model: 128  # §3.1\n"}
    stubborn = [Reply(json.dumps({"content": bad["configs/base.yaml"]})), Reply(json.dumps({"content": GOOD["src/model.py"]}))]
    with ScriptedLlmServer(staged(bad) + stubborn * 2) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                ListSink(), None, CancelToken())
    assert outcome.exit_code == 10 and outcome.citations.ok and outcome.generated_code
    no_model = CitationChecker(enrich_paper(load_paper(str(PAPER), cache_dir=tmp_path / "c", sink=ListSink(),
                                                       cancel=CancelToken())))
    config = (outcome.folder / "configs/base.yaml").read_text()
    assert config.startswith("# base.yaml — hyperparameters of") and no_model.check({"configs/base.yaml": config}).ok
    assert (outcome.folder / "generation/rejected/configs/base.yaml").read_text() == "d_model: 128  # §3.1\n"
    notes = (outcome.folder / "REPRODUCTION_NOTES.md").read_text()
    assert "## Set aside" in notes and "d_model: 128 is not the value §3.1 gives (it states 64)" in notes
    stages = [r["stage"] for r in rounds_of(outcome.folder)]
    assert stages[-3:] == ["citation-fix", "citation-fix", "fallback"]


@pytest.mark.parametrize("plan", [
    "this is not json at all",
    json.dumps({"files": [{"path": "src/model.py"}], "config": ""}),  # no smoke_shapes.py
    json.dumps({"files": [{"path": "../../etc/passwd"}, {"path": "src/model.py"}, {"path": "smoke_shapes.py"}],
                "config": ""}),
], ids=["garbage", "no-shape-check", "path-escape"])
def test_a_hostile_or_broken_plan_leaves_the_no_model_output(tmp_path: Path, plan: str) -> None:
    sink = ListSink()
    with ScriptedLlmServer([Reply(plan), Reply(plan)]) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                sink, None, CancelToken())
    assert len(server.requests) == 2  # the plan and its one corrective round, then nothing
    assert not outcome.generated_code and outcome.exit_code == 0 and outcome.citations.ok
    files = sorted(p.relative_to(outcome.folder).as_posix() for p in outcome.folder.rglob("*") if p.is_file()
                   and "logs" not in p.parts)
    assert files == ["README.md", "REPRODUCTION_NOTES.md", "citations.json", "configs/base.yaml", "paper.json"]
    assert not (tmp_path.parent / "etc").exists()
    assert any("generation failed" in e.text for e in sink.events if e.kind == "message")


def test_code_that_keeps_failing_its_check_is_set_aside_whole(tmp_path: Path) -> None:
    """src/model.py keeps citing a section the paper does not have: without it there is nothing to shape-check,
    so no code is kept and the folder is the no-model output (plus the set-aside files), exit 10."""
    bad = {**GOOD, "src/model.py": GOOD["src/model.py"].replace("§3.1", "§9.9")}
    stubborn = [Reply(json.dumps({"content": bad["src/model.py"]}))]
    with ScriptedLlmServer(staged(bad) + stubborn * 2) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, cache_dir=tmp_path / "c"),
                                ListSink(), None, CancelToken())
    assert not outcome.generated_code and outcome.run is None and outcome.exit_code == 10 and outcome.citations.ok
    assert not (outcome.folder / "src/model.py").exists()
    assert (outcome.folder / "generation/rejected/src/model.py").read_text() == bad["src/model.py"]
    assert (outcome.folder / "generation/rejected/smoke_shapes.py").is_file()
    assert "**No code was generated**" in (outcome.folder / "REPRODUCTION_NOTES.md").read_text()


@pytest.mark.docker
def test_a_generated_folder_builds_and_passes_its_shape_check(tmp_path: Path) -> None:
    from docker_support import docker_or_fail

    docker_or_fail()
    with ScriptedLlmServer(staged(GOOD)) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, timeout=120, max_attempts=1,
                                                cache_dir=tmp_path / "c"), ListSink(), None, CancelToken())
    assert outcome.run is not None and outcome.run.status == "success", outcome.run.reason if outcome.run else ""
    run_dir = outcome.run.run_dir
    assert run_dir is not None
    assert "(2, 64)" in (run_dir / "attempts/01/smoke_stdout.log").read_text()
    assert json.loads((run_dir / "metadata.json").read_text())["implement_of"] == str(outcome.folder)
    assert json.loads((outcome.folder / "IMPLEMENTED_FROM.json").read_text())["run_dir"] == str(run_dir)


@pytest.mark.docker
def test_a_failed_shape_check_goes_back_to_the_model_and_the_fix_is_built(tmp_path: Path) -> None:
    """The first smoke_shapes.py calls a method the model does not have; the shape check fails in the engine, its
    log goes to the model, the corrected file is built again and passes. Both runs are linked and the round
    recorded."""
    from docker_support import docker_or_fail

    docker_or_fail()
    broken = {**GOOD, "smoke_shapes.py": GOOD["smoke_shapes.py"].replace("Model()(", "Model().forward(")}
    fix = Reply(json.dumps({"files": {"smoke_shapes.py": GOOD["smoke_shapes.py"]},
                            "explanation": "Model is called, it has no forward method"}))

    def route(body: dict) -> Reply | None:
        text = " ".join(m["content"] for m in body["messages"])
        if "shape check (`python smoke_shapes.py`)" in text:
            return fix
        if "Stage" not in text and "citation check found" not in text:
            return Reply(status=500, error="not scripted: the run's own diagnosis")  # the rules decide instead
        return None

    with ScriptedLlmServer(staged(broken), route=route) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, timeout=120, max_attempts=1,
                                                build_fix_rounds=1, cache_dir=tmp_path / "c"), ListSink(), None,
                                CancelToken())
    prompts = [" ".join(m["content"] for m in r["messages"]) for r in server.requests]
    build_fix = next(p for p in prompts if "shape check (`python smoke_shapes.py`)" in p)
    assert "has no attribute 'forward'" in build_fix
    assert outcome.run is not None and outcome.run.status == "success", outcome.run.reason if outcome.run else ""
    assert (outcome.folder / "smoke_shapes.py").read_text() == GOOD["smoke_shapes.py"]
    linked = json.loads((outcome.folder / "IMPLEMENTED_FROM.json").read_text())
    assert len(linked["runs"]) == 2 and linked["run_dir"] == str(outcome.run.run_dir)
    build_rounds = [r for r in rounds_of(outcome.folder) if r["stage"] == "build-fix"]
    assert build_rounds == [{"stage": "build-fix", "round": 1, "files": ["smoke_shapes.py"], "violations_before": [],
                             "violations_after": [], "note": "Model is called, it has no forward method"}]


def test_framework_and_mode_reach_the_prompt_and_the_file_list(tmp_path: Path) -> None:
    with ScriptedLlmServer(staged(GOOD)) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, framework="jax",
                                      mode="educational", cache_dir=tmp_path / "c"), ListSink(), None, CancelToken())
    system = "\n".join(m["content"] for m in server.requests[0]["messages"] if m["role"] == "system")
    assert "citation-anchored jax implementation" in system and "`flax` (linen) and `optax`" in system
    assert "notebooks/walkthrough.ipynb" in system and "src/train.py" in system
    assert "PyTorch" not in system
