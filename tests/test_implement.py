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


def test_generation_with_violations_is_fixed_in_one_round(tmp_path: Path) -> None:
    bad = {**GOOD, "src/model.py": GOOD["src/model.py"].replace("§3.1", "§9.9"),
           "configs/base.yaml": GOOD["configs/base.yaml"].replace('"d_model = 64"', '"d_model = 128"') + "epochs: 5\n"}
    replies = [Reply(json.dumps({"files": bad, "notes": "first"})), Reply(json.dumps({"files": GOOD, "notes": "fixed"}))]
    sink = ListSink()
    with ScriptedLlmServer(replies) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                sink, None, CancelToken())
    assert outcome.generated_code and outcome.citations.ok and outcome.exit_code == 0
    fix_prompt = server.user_prompt(1)
    assert "§9.9 is not a section of the paper" in fix_prompt and "epochs: 5 has neither a citation nor a flag" in fix_prompt
    assert '"d_model = 128" does not occur in the paper' in fix_prompt
    assert "d_model: 64 is not the value the quoted sentence gives" in fix_prompt
    saved = json.loads((outcome.folder / "citations.json").read_text())
    assert saved["violations"] == [] and saved["citations"] == outcome.citations.citations > 0
    assert (outcome.folder / "src/model.py").read_text() == GOOD["src/model.py"]
    assert "## Citation check" in (outcome.folder / "REPRODUCTION_NOTES.md").read_text()
    assert "citation problem(s); asking the model to fix them" in " ".join(e.text for e in sink.events if e.kind == "message")


def test_violations_left_after_the_fix_round_are_reported(tmp_path: Path) -> None:
    bad = {**GOOD, "configs/base.yaml": "d_model: 128  # §3.1\n"}
    replies = [Reply(json.dumps({"files": bad})), Reply(json.dumps({"files": bad}))]
    with ScriptedLlmServer(replies) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, cache_dir=tmp_path / "c"),
                                ListSink(), None, CancelToken())
    # the config's value is not the paper's, and the code's default (d_model=64) disagrees with the config
    kinds = [v.kind for v in outcome.citations.violations]
    assert outcome.exit_code == 10 and kinds == ["value-mismatch", "values-disagree"]
    notes = (outcome.folder / "REPRODUCTION_NOTES.md").read_text()
    assert "d_model: 128 is not the value §3.1 gives (it states 64)" in notes
    assert "d_model = 64 here, but configs/base.yaml has d_model: 128" in notes


@pytest.mark.docker
def test_a_generated_folder_builds_and_passes_its_shape_check(tmp_path: Path) -> None:
    from docker_support import docker_or_fail

    docker_or_fail()
    with ScriptedLlmServer([Reply(json.dumps({"files": GOOD}))]) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        outcome = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, timeout=120, max_attempts=1,
                                                cache_dir=tmp_path / "c"), ListSink(), None, CancelToken())
    assert outcome.run is not None and outcome.run.status == "success", outcome.run.reason if outcome.run else ""
    run_dir = outcome.run.run_dir
    assert run_dir is not None
    assert "(2, 64)" in (run_dir / "attempts/01/smoke_stdout.log").read_text()
    assert json.loads((run_dir / "metadata.json").read_text())["implement_of"] == str(outcome.folder)
    assert json.loads((outcome.folder / "IMPLEMENTED_FROM.json").read_text())["run_dir"] == str(run_dir)


def test_framework_and_mode_reach_the_prompt_and_the_file_list(tmp_path: Path) -> None:
    with ScriptedLlmServer([Reply(json.dumps({"files": GOOD}))]) as server:
        llm = LlmSettings(base_url=server.base_url, model="m", max_retries=0)
        run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path, llm=llm, run=False, framework="jax",
                                      mode="educational", cache_dir=tmp_path / "c"), ListSink(), None, CancelToken())
    system = "\n".join(m["content"] for m in server.requests[0]["messages"] if m["role"] == "system")
    assert "citation-anchored jax implementation" in system and "`flax` (linen) and `optax`" in system
    assert "notebooks/walkthrough.ipynb" in system and "src/train.py" in system
    assert "PyTorch" not in system
