"""Analyzer facts, field by field, on fixture repos the tests make. Nothing in them is ever executed."""

from __future__ import annotations

from pathlib import Path

from paper2run_tui.engine.analyze import AnalyzeLimits, analyze_repo


def deps(facts) -> dict[str, tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return {d.name: (d.specifier, d.source, d.group) for d in facts.dependencies}


def test_requirements_with_includes_markers_git_and_options(make_repo) -> None:
    repo = make_repo({
        "requirements.txt": """
            # core
            numpy==1.21.2
            torch>=1.8,<2 ; python_version < "3.11"
            -r requirements/extra.txt
            --index-url https://example.org/simple
            git+https://github.com/openai/CLIP.git#egg=clip
            -e .
            """,
        "requirements/extra.txt": "scipy~=1.7\n",
        "requirements-dev.txt": "pytest\n",
    })
    f = analyze_repo(repo)
    d = deps(f)
    assert d["numpy"] == ("==1.21.2", "requirements.txt", None)
    assert d["torch"] == ("<2,>=1.8", "requirements.txt", None)
    assert next(x for x in f.dependencies if x.name == "torch").marker == 'python_version < "3.11"'
    assert d["scipy"] == ("~=1.7", "requirements/extra.txt", None)
    assert d["pytest"] == ("", "requirements-dev.txt", "dev")
    clip = next(x for x in f.dependencies if x.name == "clip")
    assert clip.kind == "git" and clip.line == 6
    assert {m.source for m in f.manifests} == {"requirements.txt", "requirements/extra.txt", "requirements-dev.txt"}
    assert f.managers == ["pip"]


def test_setup_py_is_read_with_ast_never_run(make_repo, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    repo = make_repo({
        "setup.py": f"""
            import os
            from setuptools import setup, find_packages
            open({str(marker)!r}, "w").write("ran")
            REQS = ["requests>=2", "tqdm"]
            setup(
                name="demo",
                install_requires=REQS,
                extras_require={{"viz": ["matplotlib<3.6"]}},
                python_requires=">=3.7,<3.10",
                classifiers=["Programming Language :: Python :: 3.8"],
                entry_points={{"console_scripts": ["demo-train = demo.train:main"]}},
            )
            """,
        "demo/__init__.py": "",
        "demo/train.py": "import argparse\n",
    })
    f = analyze_repo(repo)
    assert not marker.exists()
    assert deps(f)["requests"] == (">=2", "setup.py", None)
    assert deps(f)["matplotlib"] == ("<3.6", "setup.py", "viz")
    assert [(h.spec, h.kind) for h in f.python_hints] == [(">=3.7,<3.10", "python_requires"), ("3.8", "classifier")]
    ep = f.entry_points[0]
    assert (ep.name, ep.target, ep.kind, ep.source) == ("demo-train", "demo.train:main", "console-script", "setup.py")
    assert f.smoke_candidates[0].command == "demo-train --help"


def test_pyproject_pep621_poetry_and_pipfile(make_repo) -> None:
    repo = make_repo({
        "pyproject.toml": """
            [project]
            name = "a"
            requires-python = ">=3.9"
            dependencies = ["einops>=0.6"]
            [project.optional-dependencies]
            test = ["pytest"]
            [project.scripts]
            a-cli = "a.cli:main"
            [tool.poetry.dependencies]
            python = "^3.9"
            jax = "^0.4.1"
            [tool.uv]
            dev-dependencies = []
            """,
        "Pipfile": '[packages]\nflask = "==2.0.1"\n[requires]\npython_version = "3.8"\n',
    })
    f = analyze_repo(repo)
    kinds = {m.kind for m in f.manifests}
    assert {"pyproject-pep621", "pyproject-poetry", "pyproject-uv", "pipfile"} <= kinds
    d = deps(f)
    assert d["einops"] == (">=0.6", "pyproject.toml", None)
    assert d["pytest"][2] == "test"
    assert d["jax"] == (">=0.4.1,<0.5", "pyproject.toml", None)
    assert d["flask"] == ("==2.0.1", "Pipfile", None)
    assert {(h.spec, h.kind) for h in f.python_hints} >= {(">=3.9", "python_requires"), (">=3.9,<4", "poetry"), ("3.8", "pipfile")}


def test_conda_environment_and_version_files(make_repo) -> None:
    repo = make_repo({
        "environment.yml": "name: x\nchannels: [pytorch]\ndependencies:\n  - python=3.8\n  - pytorch=1.7.1\n  - numpy=1.19.2=py38h54aff64_0\n  - pip:\n    - wandb==0.10.0\n",
        ".python-version": "3.8.12\n",
        "tox.ini": "[tox]\nenvlist = py37, py38\n",
        ".github/workflows/ci.yml": "jobs:\n  t:\n    strategy:\n      matrix:\n        python-version: ['3.8', '3.9']\n",
        "main.py": "import torch\n",
    })
    f = analyze_repo(repo)
    d = deps(f)
    assert d["pytorch"] == ("==1.7.1", "environment.yml", None)
    assert d["numpy"] == ("==1.19.2", "environment.yml", None)
    assert d["wandb"] == ("==0.10.0", "environment.yml", None)
    hints = {(h.spec, h.kind, h.source) for h in f.python_hints}
    assert ("3.8", "conda", "environment.yml") in hints
    assert ("3.8", "python-version-file", ".python-version") in hints
    assert {("3.7", "tox", "tox.ini"), ("3.8", "tox", "tox.ini")} <= hints
    assert ("3.9", "ci", ".github/workflows/ci.yml") in hints
    assert f.managers == ["conda"]


def test_no_manifest_repo_imports_gpu_data_and_scripts(make_repo) -> None:
    repo = make_repo({
        "train.py": """
            import argparse, os
            import numpy as np
            import torch
            from sklearn.metrics import f1_score
            from models.net import Net
            import utils
            data = np.load('data/train.npz')
            url = "https://example.org/weights/model.pth"
            if __name__ == "__main__":
                argparse.ArgumentParser().parse_args()
                Net().cuda()
            """,
        "utils.py": "import cv2\n",
        "models/__init__.py": "",
        "models/net.py": "import torch.nn as nn\nclass Net(nn.Module): pass\n",
        "README.md": "# Demo\n\n```bash\npython train.py --epochs 10 --data data/\n```\nGet data: \n```\nwget https://example.org/data.zip\n```\n",
    })
    f = analyze_repo(repo)
    assert f.manifests == [] and f.is_python and f.primary_language == "Python"
    assert [i.module for i in f.imports] == ["torch", "numpy", "sklearn", "cv2"]
    assert next(i for i in f.imports if i.module == "cv2").source == "utils.py"
    assert {"train", "utils", "models"} <= set(f.local_modules)
    gpu = {(g.marker, g.source, g.hard) for g in f.gpu_markers}
    assert (".cuda()", "train.py", True) in gpu
    data = {(d.target, d.kind, d.source) for d in f.data_expectations}
    assert ("data/train.npz", "local-path", "train.py") in data
    assert ("https://example.org/weights/model.pth", "download-url", "train.py") in data
    assert ("wget https://example.org/data.zip", "readme-instruction", "README.md") in data
    cmds = [(c.command, c.kind, c.needs_data) for c in f.smoke_candidates]
    assert ("python train.py --help", "entrypoint-help", False) in cmds
    assert ("python train.py --epochs 10 --data data/", "readme", True) in cmds
    assert f.smoke_candidates[0].command == "python train.py --help"


def test_gpu_code_with_a_cpu_branch_is_soft(make_repo) -> None:
    repo = make_repo({"a.py": "import torch\ndev = 'cuda' if torch.cuda.is_available() else 'cpu'\nx = torch.ones(1).cuda()\n"})
    assert {g.hard for g in analyze_repo(repo).gpu_markers} == {False}


def test_cuda_in_a_library_modules_demo_block_is_soft(make_repo) -> None:
    """vit-pytorch's look_vit.py ends with a `__main__` demo calling .cuda(): the library does not need a GPU.
    The same block in a script (its real work) stays hard, and so does CUDA in the module's own code."""
    demo = "import torch\ndef f(x):\n    return x\nif __name__ == '__main__':\n    m = torch.nn.Linear(1, 1).cuda()\n"
    repo = make_repo({"pkg/__init__.py": "", "pkg/look_vit.py": demo, "train.py": demo,
                      "pkg/ops.py": "import torch\nbuf = torch.zeros(1).cuda()\nif __name__ == '__main__':\n    pass\n"})
    hard = {(g.source, g.hard) for g in analyze_repo(repo).gpu_markers}
    assert hard == {("pkg/look_vit.py", False), ("train.py", True), ("pkg/ops.py", True)}


def test_non_python_repo(make_repo) -> None:
    repo = make_repo({"DESCRIPTION": "Package: foo\nVersion: 0.1\n", "R/a.R": "f <- function() 1\n" * 40,
                      "package.json": '{"dependencies": {"left-pad": "^1.3.0"}}', "index.js": "x\n"})
    f = analyze_repo(repo)
    assert not f.is_python and f.primary_language == "R"
    assert {m.kind for m in f.manifests} == {"r-description", "package.json"}


def test_notebooks_python2_binary_and_bad_encodings(make_repo) -> None:
    nb = '{"cells": [{"cell_type": "code", "source": ["%matplotlib inline\\n", "import pandas as pd\\n"]}]}'
    repo = make_repo({
        "analysis.ipynb": nb,
        "old.py": "import urllib2\nprint 'hello'\n",
        "blob.py": b"\x00\x01binary",
        "latin.py": "x = 'caf\xe9'\nimport yaml\n".encode("latin-1"),
    })
    f = analyze_repo(repo)
    modules = [i.module for i in f.imports]
    assert "pandas" in modules and "yaml" in modules and "urllib2" not in modules
    assert any("Python 2" in w for w in f.warnings)


def test_symlinks_are_never_followed(make_repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("import leaked_module\n")
    repo = make_repo({"a.py": "import numpy\n"})
    (repo / "link").symlink_to(outside)
    (repo / "link.py").symlink_to(outside / "secret.py")
    f = analyze_repo(repo)
    assert [i.module for i in f.imports] == ["numpy"] and f.files_skipped >= 2


def test_walk_is_bounded_and_says_so(make_repo) -> None:
    repo = make_repo({f"pkg/m{i}.py": "import numpy\n" for i in range(50)})
    f = analyze_repo(repo, limits=AnalyzeLimits(max_files=20))
    assert f.truncated and f.files_seen == 20
    assert any("stopped after 20 files" in w for w in f.warnings)


def test_junk_folders_are_skipped(make_repo) -> None:
    repo = make_repo({"a.py": "import numpy\n", "node_modules/x/index.js": "x", ".venv/pyvenv.cfg": "home=/usr",
                      ".venv/lib/site.py": "import junk_venv\n", "myenv/pyvenv.cfg": "x", "myenv/lib/m.py": "import junk2\n"})
    f = analyze_repo(repo)
    assert [i.module for i in f.imports] == ["numpy"] and f.files_seen == 1


def test_an_unguarded_script_that_parses_arguments_first_is_an_entry_point(make_repo) -> None:
    """PyTorch-GAN's scripts have no __main__ guard, but parse_args() comes before any work: --help is safe."""
    from paper2run_tui.engine.analyze.code_scan import parses_args_before_work
    safe = ("import argparse, os\nimport torch\nos.makedirs('images', exist_ok=True)\n"
            "parser = argparse.ArgumentParser()\nparser.add_argument('--n', type=int, default=2)\n"
            "opt = parser.parse_args()\nfor epoch in range(opt.n):\n    pass\n")
    works_first = "import argparse\nimport torch\nmodel = torch.load('ckpt.pt')\nopt = argparse.ArgumentParser().parse_args()\n"
    assert parses_args_before_work(safe)
    assert not parses_args_before_work(works_first)
    assert not parses_args_before_work("import argparse\nprint('training')\n")
    repo = make_repo({"requirements.txt": "torch\n", "implementations/gan/gan.py": safe, "other/load.py": works_first})
    facts = analyze_repo(repo)
    assert [e.target for e in facts.entry_points if e.kind == "script"] == ["implementations/gan/gan.py"]
    assert any(c.command == "python implementations/gan/gan.py --help" for c in facts.smoke_candidates)


def test_toy_runs_need_nothing_the_repository_does_not_hold(make_repo) -> None:
    """pygcn's README says ```python train.py``` (one line) meaning `cd pygcn` first, and its data is in the repo;
    makemore's reads names.txt, which is in the repo; a README command on a missing file, a script that downloads
    its dataset and a demo with a required argument are never toy runs."""
    guarded = "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"
    repo = make_repo({
        "README.md": ("# GCN\n\n## Usage\n\n```python train.py```\n\nOr `python makemore.py -i names.txt -o out`.\n\n"
                      "```bash\n$ python makemore.py -i missing.txt\npython fetch.py\npython /path/to/x.py\n```\n"),
        "pkg/train.py": guarded, "data/cora/cora.content": "1 2\n", "makemore.py": guarded, "names.txt": "emma\n",
        "fetch.py": guarded + "datasets.CIFAR10(root='.', download=True)\n",
        "examples/ode_demo.py": guarded.replace("parse_args()", "add_argument('--n', default=3)"),
        "examples/needs_demo.py": guarded.replace("parse_args()", "add_argument('--ckpt', required=True)"),
        "examples/positional_demo.py": guarded.replace("parse_args()", "add_argument('config')"),
        "examples/bert_demo.py": guarded + "AutoModel.from_pretrained('bert-base-uncased')\n",
    })
    facts = analyze_repo(repo)
    toys = [(c.command, c.source, c.line) for c in facts.smoke_candidates if c.kind == "toy-run"]
    assert toys == [("cd pkg && python train.py", "README.md", 5),
                    ("python makemore.py -i names.txt -o out", "README.md", 7),
                    ("python examples/ode_demo.py", "examples/ode_demo.py", None)]
    readme = [c.command for c in facts.smoke_candidates if c.kind == "readme"]
    assert readme[:2] == ["python makemore.py -i missing.txt", "python fetch.py"]  # the fence still reads as one block


def test_python_dash_m_readme_commands_become_toy_runs_when_the_module_is_the_repositorys(make_repo) -> None:
    """`python -m pkg …` is how many READMEs say to run the code: a package's __main__, a module in a src/ layout
    (run from src/), never a module the repository does not hold (pip, pytest) or one that needs a missing file."""
    guarded = "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"
    repo = make_repo({
        "README.md": ("# Toy\n\n```bash\npython -m toy --steps 3\npython -m pip install -e .\npython -m pytest\n"
                      "python -m tools.fit --data cfg.yaml\npython -m tools.fit --data missing.yaml\n"
                      "python -m toy --help\n```\n"),
        "toy/__init__.py": "", "toy/__main__.py": guarded,
        "src/tools/__init__.py": "", "src/tools/fit.py": guarded, "src/cfg.yaml": "a: 1\n",
    })
    toys = [(c.command, c.line) for c in analyze_repo(repo).smoke_candidates if c.kind == "toy-run"]
    assert toys == [("python -m toy --steps 3", 4), ("cd src && python -m tools.fit --data cfg.yaml", 7)]


def test_torch_tensorboard_counts_as_importing_tensorboard(make_repo) -> None:
    """makemore imports torch.utils.tensorboard, which imports the tensorboard distribution's module."""
    repo = make_repo({"makemore.py": "import torch\nfrom torch.utils.tensorboard import SummaryWriter\n",
                      "other.py": "import torch.utils.data\n"})
    assert sorted(i.module for i in analyze_repo(repo).imports) == ["tensorboard", "torch"]


def test_train_and_sample_scripts_rank_above_data_preparation(make_repo) -> None:
    """improved-diffusion: datasets/lsun_bedroom.py sorts first, but scripts/image_sample.py says more."""
    cli = "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"
    repo = make_repo({"datasets/lsun_bedroom.py": cli, "scripts/image_nll.py": cli, "scripts/image_sample.py": cli,
                      "scripts/image_train.py": cli, "datasets/train_split.py": cli})
    helps = [c.command for c in analyze_repo(repo).smoke_candidates if c.kind == "entrypoint-help"]
    assert helps == ["python scripts/image_sample.py --help", "python scripts/image_train.py --help",
                     "python datasets/train_split.py --help", "python scripts/image_nll.py --help",
                     "python datasets/lsun_bedroom.py --help"]


def test_cuda_in_notebooks_and_as_a_parameter_default_is_not_a_need(make_repo) -> None:
    notebook = '{"cells": [{"cell_type": "code", "source": ["model = model.cuda()\\n"]}]}'
    repo = make_repo({
        "demo.ipynb": notebook,
        "pkg/__init__.py": "",
        "pkg/fid.py": "class FID:\n    def __init__(\n        self,\n        device=\"cuda\",\n    ):\n        self.device = device\n",
        "pkg/run.py": "import torch\ndef go(x):\n    return x.to(device='cuda')\n",
    })
    hard = {(g.source, g.hard) for g in analyze_repo(repo).gpu_markers}
    assert hard == {("demo.ipynb", False), ("pkg/fid.py", False), ("pkg/run.py", True)}


def test_loose_files_offer_their_library_module_for_the_import_rung(make_repo) -> None:
    repo = make_repo({
        "model.py": "import torch\nclass GPT:\n    pass\n",
        "train.py": "import argparse\nfrom model import GPT\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n",
        "sample.py": "import model\nprint(model.GPT())\n",
        "configurator.py": "import sys\nfor arg in sys.argv[1:]:\n    exec(arg)\n",  # imported by nobody
    })
    imports = [c.command for c in analyze_repo(repo).smoke_candidates if c.kind == "import"]
    assert imports == ['python -c "import model"']


def test_a_script_that_fetches_over_the_network_is_never_a_toy_run(make_repo) -> None:
    fetch = ("import os, requests\nurl = 'https://example.com/input.txt'\n"
             "if not os.path.exists('input.txt'):\n    open('input.txt', 'w').write(requests.get(url).text)\n")
    repo = make_repo({"README.md": "```\npython data/a/prepare.py\npython data/b/prepare.py\n```\n",
                      "data/a/prepare.py": fetch, "data/b/prepare.py": fetch})
    facts = analyze_repo(repo)
    assert {(d.source, d.kind) for d in facts.data_expectations} == {("data/a/prepare.py", "download-url"),
                                                                     ("data/b/prepare.py", "download-url")}
    assert [c for c in facts.smoke_candidates if c.kind == "toy-run"] == []


def test_versions_stated_in_the_readme_prose() -> None:
    from paper2run_tui.engine.analyze.readme_versions import readme_versions

    text = ("## Requirements\n* [Python 3.5+](https://www.python.org)\n* [PyTorch 0.4.0+](http://pytorch.org/)\n"
            "* TensorFlow 1.x (for the logger), numpy >= 1.16, scipy==1.2.1\n"
            "Runnable with PyTorch v1.0.0 or above.\n"  # a second torch mention: the first one wins
            "```\npip install torchvision==0.2.1\n```\n")  # pip lines are read elsewhere
    got = [(d.name, d.specifier, d.raw, d.line) for d in readme_versions(text, "README.md")]
    assert got == [("torch", ">=0.4.0", "PyTorch 0.4.0+", 3), ("tensorflow", ">=1.0,<2", "TensorFlow 1.x", 4),
                   ("numpy", ">=1.16", "numpy >= 1.16", 4), ("scipy", "==1.2.1", "scipy==1.2.1", 4)]
    assert readme_versions("see http://pytorch.org/ and the torch_utils folder", "README.md") == []


def test_a_parser_made_without_help_is_not_offered_for_the_help_rung(make_repo) -> None:
    repo = make_repo({
        "main_finetune.py": "import argparse\ndef get_args_parser():\n"
                            "    return argparse.ArgumentParser('MAE', add_help=False)\n"
                            "if __name__ == '__main__':\n    get_args_parser().parse_args()\n",
        "train.py": "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n",
    })
    helps = [c.command for c in analyze_repo(repo).smoke_candidates if c.kind == "entrypoint-help"]
    assert helps == ["python train.py --help"]


def test_forty_training_scripts_do_not_push_the_other_rungs_out_of_the_ladder(make_repo, tmp_path: Path) -> None:
    """The candidate list is capped; a repository of many single-file training scripts (an RL or GAN zoo) filled it
    with entry points, and the ladder lost its import, tests and toy-run rungs. The best of each kind stays."""
    from paper2run_tui.engine.plan.base import PlanContext
    from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
    from paper2run_tui.engine.ports import CancelToken, ListSink

    script = ("import argparse\nimport numpy\n\nif __name__ == '__main__':\n"
              "    parser = argparse.ArgumentParser()\n    parser.add_argument('--steps', type=int, default=1)\n"
              "    args = parser.parse_args()\n")
    files = {f"algos/algo_{i:02d}.py": script for i in range(40)}
    files.update({"requirements.txt": "numpy\n", "zoo/__init__.py": "", "zoo/buffers.py": "import numpy\nSIZE = 4\n",
                  "tests/test_buffers.py": "from zoo.buffers import SIZE\n\ndef test_size():\n    assert SIZE == 4\n"})
    repo = make_repo(files)
    facts = analyze_repo(repo)
    kinds = [c.kind for c in facts.smoke_candidates]
    assert len(kinds) == 30 and kinds.count("entrypoint-help") == 28
    assert {"import", "tests"} <= set(kinds)
    assert [c.score for c in facts.smoke_candidates] == sorted((c.score for c in facts.smoke_candidates), reverse=True)
    plan = DeterministicPlanner().plan(PlanContext(facts=facts, repo_dir=repo, local_images=["python:3.11-slim"]),
                                       ListSink(), CancelToken()).plan
    assert [r.rung for r in plan.smoke_ladder] == ["static-imports", "import-package", "entrypoint-help", "tests"]


def test_a_script_named_test_is_no_test_suite_and_a_dataset_above_the_script_is_outside_data(make_repo) -> None:
    """test_on_image.py that runs a model on an image defines no test, and pytest over it proves nothing; a zoo
    script that reads `"../../data/%s" % name` needs a dataset the checkout does not hold, so its README command
    is no toy run."""
    zoo = ("import argparse, glob\nparser = argparse.ArgumentParser()\n"
           "parser.add_argument('--dataset_name', default='shoes')\nopt = parser.parse_args()\n"
           "files = glob.glob('../../data/%s/*.jpg' % opt.dataset_name)\n")
    scripts = make_repo({"README.md": "# Zoo\n\n```\ncd implementations/gan/\npython gan.py\n```\n",
                         "implementations/gan/gan.py": zoo,
                         "implementations/sr/test_on_image.py": "import torch\nprint(torch.load('model.pt'))\n"})
    facts = analyze_repo(scripts)
    assert not facts.has_tests and not [c for c in facts.smoke_candidates if c.kind in ("tests", "toy-run")]
    assert any(d.target == "../../data/%s/*.jpg" and d.kind == "local-path" for d in facts.data_expectations)
    suite = make_repo({"pkg/__init__.py": "X = 1\n", "tests/test_x.py": "from pkg import X\n\n\ndef test_x():\n"
                                                                        "    assert X == 1\n",
                       "test_helpers.py": "class TestHelpers:\n    pass\n"})
    assert analyze_repo(suite).has_tests
