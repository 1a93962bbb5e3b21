"""conda environments (environment.yml): translated to pip, conda-only packages (the CUDA toolkit, compilers,
Python itself) dropped and said so."""

from __future__ import annotations

import re

from ...contracts import RepoFacts
from ...contracts.facts import Dependency
from .base import PlanJob

#: conda names that differ on PyPI, and conda-only packages that have no pip equivalent (dropped, said so).
CONDA_TO_PIP = {"pytorch": "torch", "pytorch-cpu": "torch", "py-opencv": "opencv-python-headless", "opencv": "opencv-python-headless",
                "pyyaml": "PyYAML", "scikit-learn": "scikit-learn", "pillow": "Pillow", "tensorflow-gpu": "tensorflow"}
CONDA_ONLY = {"cudatoolkit", "cudnn", "mkl", "mkl-service", "blas", "libgcc-ng", "libstdcxx-ng", "ca-certificates",
              "openssl", "certifi", "python", "pip", "setuptools", "wheel", "readline", "sqlite", "tk", "xz", "zlib",
              "ncurses", "libffi", "ld_impl_linux-64", "_libgcc_mutex", "_openmp_mutex", "intel-openmp", "cuda-toolkit",
              "pytorch-cuda", "nvidia", "libuv", "jpeg", "libpng", "freetype", "cudatoolkit-dev"}


def conda_to_pip(deps: list[Dependency], notes: list[str], what: str = "conda environment") -> list[Dependency]:
    """conda requirements as pip ones: renamed where PyPI differs, conda's `=1.7` as `==1.7.*`, conda-only dropped."""
    out = []
    dropped = []
    for d in deps:
        name = d.name.lower()
        if name in CONDA_ONLY or name.startswith(("lib", "cuda", "_")):
            dropped.append(d.name)
            continue
        spec = d.specifier if re.match(r"^(==|>=|<=|>|<|!=)\d", d.specifier) else ""
        if spec.startswith("==") and spec.count(".") == 1:
            spec = f"{spec}.*"
        out.append(d.model_copy(update={"name": CONDA_TO_PIP.get(name, d.name), "specifier": spec, "kind": "pypi"}))
    if out or dropped:
        notes.append(f"{what} translated to pip ({len(out)} packages)"
                     + (f"; conda-only packages dropped: {', '.join(sorted(set(dropped))[:10])}" if dropped else ""))
    return out


def conda_deps(facts: RepoFacts, notes: list[str]) -> list[Dependency]:
    return conda_to_pip([d for d in facts.dependencies if d.kind == "conda"], notes)


class CondaEnvironment:
    name = "conda environment"
    manifest_kinds = frozenset({"conda-environment", "conda-requirements"})

    def detect(self, job: PlanJob) -> bool:
        return "conda-environment" in job.kinds

    def collect(self, job: PlanJob) -> None:
        job.extra += conda_deps(job.facts, job.notes)

    def fill(self, job: PlanJob) -> None:
        """Its packages are installed with the others (the planner's package list)."""
