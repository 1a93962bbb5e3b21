"""The known-failure table: a signature (regex over the logs), what it means, and the plan change that fixes it.

Most research repositories fail for a small set of boring reasons. Each rule either returns a complete new plan or
raises Stop with the reason a person needs (e.g. the data set is missing, and where the README says to get it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from ...analyze.code_scan import STDLIB
from ...contracts import EnvPlan
from ...contracts.dependencies import GitToPypi, IndexedPackages, PackageStep
from ...contracts.facts import Dependency
from ...plan.installers.project import PROJECT_KINDS
from ...plan.packages import TORCH_CPU_INDEX, TORCH_FAMILY, dist_for_import, system_packages_for
from ...plan.python_version import local_python_versions
from ...plan.time_travel import section_of, without_time_travel
from ..base import DiagnosisContext
from .pip_output import isolated_build_hook
from .transforms import (
    NotApplicable,
    Stop,
    Unavailable,
    add_packages,
    add_system,
    failing_stage,
    installs,
    lower_smoke,
    move_python,
    python_gap,
    relax_pin,
    rename_requirement,
    requirement_name,
    running_python,
    set_env,
    swap_git_for_pypi,
    time_travel,
    with_build_env,
    with_pin,
    with_pip,
    with_terminal,
    without_build_isolation,
    without_lock,
    without_project_install,
)

Transform = Callable[[EnvPlan, re.Match[str], DiagnosisContext], EnvPlan]


@dataclass(frozen=True)
class Rule:
    id: str
    failure_class: str
    pattern: re.Pattern[str]
    explain: str | Callable[[re.Match[str]], str]  # a str may use {0}, {1}... from the match groups
    fix: Transform

    def describe(self, match: re.Match[str]) -> str:
        if callable(self.explain):
            return self.explain(match)
        groups = [g or "" for g in match.groups()]
        try:
            return self.explain.format(*groups)
        except (IndexError, KeyError):
            return self.explain


def _r(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags | re.MULTILINE)


# --- fixes ------------------------------------------------------------------------------------------------------

SHARED_LIBS = {
    "libGL.so": "libgl1", "libgthread-2.0.so": "libglib2.0-0", "libglib-2.0.so": "libglib2.0-0",
    "libSM.so": "libsm6", "libXext.so": "libxext6", "libXrender.so": "libxrender1", "libgomp.so": "libgomp1",
    "libsndfile.so": "libsndfile1", "libpq.so": "libpq5", "libhdf5": "libhdf5-dev", "libGLU.so": "libglu1-mesa",
    "libX11.so": "libx11-6", "libxcb.so": "libxcb1", "libfontconfig.so": "libfontconfig1", "libmagic.so": "libmagic1",
    "libespeak": "espeak-ng", "libportaudio.so": "libportaudio2", "libzmq.so": "libzmq5", "libEGL.so": "libegl1",
    "libOpenGL.so": "libopengl0", "libjpeg.so": "libjpeg62-turbo", "libpng16.so": "libpng16-16",
    "libtiff.so": "libtiff6", "libgfortran.so": "libgfortran5", "libopenblas.so": "libopenblas0",
    "liblapack.so": "liblapack3", "libblas.so": "libblas3", "libgeos_c.so": "libgeos-c1v5", "libproj.so": "proj-bin",
    "libavcodec.so": "ffmpeg", "libavformat.so": "ffmpeg", "libsox": "sox", "libmpi.so": "libopenmpi-dev",
    "libmpi_cxx.so": "libopenmpi-dev", "libopenblasp": "libopenblas0", "libsnappy.so": "libsnappy1v5",
}


def _py(plan: EnvPlan) -> tuple[int, ...]:
    """The image's Python as a tuple: compared as strings, "3.9" would sort above "3.12"."""
    try:
        return tuple(int(p) for p in running_python(plan).split(".")[:2])
    except ValueError:
        return (3, 11)


def _numpy_distutils_sdist(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """numpy.distutils (old scipy/numpy sdists) calls today's setuptools compiler with an argument it dropped: the
    pin has no wheel for this Python, so the build needs the Python (and setuptools) of the pin's own time."""
    if _py(plan) > (3, 9):
        return move_python(plan, ctx, ["3.9", "3.8", "3.7"],
                           f"an old numpy.distutils sdist cannot build on Python {running_python(plan)}")
    if not plan.exclude_newer and ctx.facts.commit_date is not None:
        return time_travel(plan, ctx)
    raise Stop("an old numpy/scipy pin has no wheel for this Python and its numpy.distutils sdist cannot build; "
               "the pins need an older Python (map its base image with PAPER2RUN_BASE_IMAGE_MAP)")


def _in_isolated_build(plan: EnvPlan, m: re.Match[str]) -> str | None:
    """The build hook the failure happened in, when pip ran it isolated (the plan did not turn isolation off)."""
    if plan.dependencies is not None and not plan.dependencies.build_isolation:
        return None
    return isolated_build_hook(m.string, m.start())


def _into_the_build(plan: EnvPlan, ctx: DiagnosisContext, packages: list[str], hook: str) -> EnvPlan:
    """A build-time need of a dependency built from source: installed first, and the dependencies built without
    isolation so that their build sees it (installed into the image, an isolated build never would)."""
    early = {requirement_name(p) for i in (plan.dependencies.indexes if plan.dependencies else []) for p in i.packages}
    needed = [p for p in packages if requirement_name(p) not in early]  # torch from its index is there already
    torch = [p for p in needed if requirement_name(p) in TORCH_FAMILY]
    if torch:  # from the CPU wheel index, in its own early step, as the planner installs it
        section = section_of(plan)
        section.indexes.append(IndexedPackages(packages=torch, index_url=TORCH_CPU_INDEX))
        plan = plan.model_copy(update={"dependencies": section})
        needed = [p for p in needed if p not in torch]
    new = without_build_isolation(add_packages(plan, ctx, needed, before_failing=True) if needed else plan)
    return new.model_copy(update={"notes": f"{plan.notes}\n- repair: {' '.join(packages)} is needed by a "
                                           f"dependency's build ({hook}, in pip's isolated build environment): "
                                           "installed first, the dependencies built without isolation".strip()})


def _missing_module(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    module = m.group(1).split(".")[0]
    hook = _in_isolated_build(plan, m)
    if hook and module not in ctx.facts.local_modules and (dist := dist_for_import(module)):
        return _into_the_build(add_system(plan, "build-essential"), ctx, [dist], hook)
    if module in ctx.facts.local_modules:
        return set_env(plan, PYTHONPATH=plan.workdir)
    dist = dist_for_import(module)
    if dist is None:
        raise Stop(f"the code imports {module!r}, which is not an installable package (Python 2 or a platform "
                   "module); the code itself would have to change")
    if dist == "torchtext" and _uses_torchtext_legacy(ctx):
        # The code's own imports say which torchtext it was written for: install that one at once, rather than the
        # newest and then learning of the removed API from the next failure.
        new = add_packages(plan, ctx, OLD_TORCHTEXT, before_failing=True)
        return move_python(new, ctx, ["3.9", "3.8"], "torchtext 0.8 and its torch have no wheels for newer Pythons") \
            if _py(plan) > (3, 9) else new
    # Only the module the traceback names: another undeclared import may be optional, lazy, CUDA-only or on no
    # index, and installed together it could sink the one that failed. Each is installed when it fails on its
    # own. With it, what the planner knows it needs (mpi4py's wheels load the system's MPI).
    system = [pkg for pkg, _ in system_packages_for([dist])]
    keep = dist in _TORCH_COMPANIONS and bool(installs(plan, ctx) & {"torch", "pytorch"})
    return add_packages(add_system(plan, *system), ctx, [dist], before_failing=True, keep_torch=keep)


def _static_missing(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """The static check found modules the code imports and the image lacks (undeclared ones the analyzer found):
    each distribution installed in a step of its own, so that one on no index fails alone (and is left out by the
    no-release rule) instead of sinking the others. A module the plan installs already is not installed again."""
    try:
        modules = [str(x) for x in ast.literal_eval(f"[{m.group(1)}]")]
    except (ValueError, SyntaxError):
        raise NotApplicable("the list of missing modules could not be read") from None
    have = installs(plan, ctx)
    dropped = {canonicalize_name(n) for n in section_of(plan).edits.drop}  # on no index: left out before
    dists: list[str] = []
    skipped: list[str] = []
    for module in modules:
        top = module.split(".")[0]
        dist = None if top in ctx.facts.local_modules else dist_for_import(top)
        if dist is None or canonicalize_name(dist) in have | dropped:
            skipped.append(top)
        elif dist not in dists:
            dists.append(dist)
    if not dists:
        raise Stop(f"the static check misses {', '.join(modules)}, which the plan installs already or no package "
                   "provides: the module names differ from the distributions' (check the imports against the "
                   "installed packages)")
    new = add_system(plan, *[pkg for pkg, _ in system_packages_for(dists)])
    torch = bool(installs(plan, ctx) & {"torch", "pytorch"})
    for dist in dists:
        new = add_packages(new, ctx, [dist], keep_torch=dist in _TORCH_COMPANIONS and torch)
    note = (f"the static check's missing modules installed, each in its own step: {', '.join(dists)}"
            + (f" (not {', '.join(skipped)}: installed already or no package)" if skipped else ""))
    return new.model_copy(update={"notes": f"{plan.notes}\n- repair: {note}".strip()})


_TORCHTEXT_LEGACY = re.compile(r"^\s*from\s+torchtext\.data\s+import\s+[^\n]*\b(Field|BucketIterator|TabularDataset|"
                               r"ReversibleField|NestedField)\b|\btorchtext\.data\.(Field|BucketIterator|TabularDataset)\b",
                               re.MULTILINE)
#: torchtext 0.8 (torch 1.7.1) is the last with the legacy API at torchtext.data; it was built against NumPy 1.
OLD_TORCHTEXT = ["torchtext<0.9", "numpy<2"]


def _uses_torchtext_legacy(ctx: DiagnosisContext) -> bool:
    """Whether the repository's code imports torchtext's legacy API (read, never run; a bounded number of files)."""
    for i, path in enumerate(sorted(ctx.repo_dir.rglob("*.py"))):
        if i >= 2000:
            return False
        try:
            if _TORCHTEXT_LEGACY.search(path.read_text(encoding="utf-8", errors="replace")[:500_000]):
                return True
        except OSError:
            continue
    return False


#: Built against one exact torch release each: installed alone, pip upgrades torch to the newest to match them (the
#: repair then also requires the torch already installed, so pip picks the companion release built for it).
_TORCH_COMPANIONS = {"torchvision", "torchaudio", "torchtext"}


def _shared_library(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    lib = m.group(1)
    for prefix, pkg in SHARED_LIBS.items():
        if lib.startswith(prefix):
            return add_system(plan, pkg)
    if lib.startswith(("libcuda", "libcudart", "libcublas", "libcudnn", "libnvidia")):
        raise Stop(f"{lib} is part of the NVIDIA driver/CUDA runtime: the code needs a GPU build and a GPU")
    raise Stop(f"the shared library {lib} is missing and no Debian package is known for it")


def _needs_terminal(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    if ctx.attempt.outcome == "build-failed":
        raise NotApplicable("a build step, not the smoke command")
    return with_terminal(plan, "the code asks the terminal for its size (stty), and a container has no terminal")


def _compiler(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return add_system(plan, "build-essential")


def _python_headers(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return add_system(plan, "build-essential", "python3-dev")


def _requires_python(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return _python_within(plan, ctx, m.group(2), m.group(1) or "a package")


def _python_within(plan: EnvPlan, ctx: DiagnosisContext, spec_text: str, who: str) -> EnvPlan:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    
    try:
        spec = SpecifierSet(spec_text.replace(" ", ""))
    except InvalidSpecifier:
        raise Stop(f"{who} needs Python {spec_text}") from None
    wanted = [v for v in ("3.11", "3.10", "3.12", "3.9", "3.13", "3.8", "3.7", "3.6") if Version(f"{v}.0") in spec]
    if not wanted:
        raise Stop(f"{who} requires Python {spec_text}, which no Python 3 satisfies"
                   + (" (a Python 2 release)" if Version("2.7") in spec else ""))
    return move_python(plan, ctx, wanted, f"{who} requires Python {spec_text}")


def _ignored_requires_python(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """pip lists every release it skipped for its Requires-Python, of every package it looked at. That says which
    Python to move to only when the release that failed is in the list."""
    skipped = dict(re.findall(r"(\S+) Requires-Python ([^;]+)", m.group(1)))
    failing = re.findall(r"satisfies the requirement [\w.\-\[\]]+==([\w.+!-]+)", m.string[m.end():])
    if not failing or failing[-1] not in skipped:
        raise NotApplicable("the release that failed is not among the skipped ones")
    return _python_within(plan, ctx, skipped[failing[-1]].strip(), f"release {failing[-1]}")


def no_release_anywhere(m: re.Match[str]) -> bool:
    """Whether pip's own query found no release of the package at all: its answer lists no versions, it skipped
    none for their Requires-Python (which it lists, just before, when there are releases for other Pythons), and
    it asked the default index: `--index-url` names one index only (the CPU torch index, offline, answers
    "versions: none" for torch, which PyPI has)."""
    name = re.escape(m.group(1))
    before = m.string[:m.start()]
    answers = list(re.finditer(rf"Could not find a version that satisfies the requirement {name}\b[^\n]*"
                               r"\(from versions: ([^)]*)\)", before, re.IGNORECASE))
    found = answers[-1] if answers else None
    if found is None or found.group(1).strip() != "none":
        return False
    earlier = [line for line in before[:before.rfind("\n", 0, found.start()) + 1].splitlines() if line.strip()]
    if earlier and "require a different python version" in earlier[-1]:
        return False
    looked = list(re.finditer(r"^Looking in indexes: ([^\n]*)", before[:found.start()], re.MULTILINE))
    return not (looked and "download.pytorch.org" in looked[-1].group(1))


def recovered_later(m: re.Match[str], name: str) -> bool:
    """Whether pip went on to find the package after this answer, in the same output: a fallback (`... || pip
    install torch` after the CPU index) collected it, so the answer is not why the build failed."""
    after = m.string[m.end():]
    key = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]+", name))
    return re.search(rf"^\s*(?:Collecting|Requirement already satisfied:)\s+{key}(?![\w.-])|"
                     rf"^Successfully installed (?:[^\n]* )?{key}-\d", after, re.MULTILINE | re.IGNORECASE) is not None


def _explain_no_match(m: re.Match[str]) -> str:
    name, spec = m.group(1), m.group(2) or ""
    if no_release_anywhere(m):
        return f"{name} has no release on the package index (pip found none, for any Python)"
    return f"no release of {name}{spec} exists for this Python"


def _metadata_sources(ctx: DiagnosisContext) -> set[str]:
    return {mf.source for mf in ctx.facts.manifests if mf.kind in PROJECT_KINDS}


def _nowhere_to_install(plan: EnvPlan, name: str, ctx: DiagnosisContext) -> EnvPlan:
    """A requirement no index has a release of: left out where the plan names it (a requirement file, its list),
    unless the project's own metadata declares it; then nothing can install the project from there."""
    key = canonicalize_name(name)
    declared = [d for d in ctx.facts.dependencies if d.kind == "pypi" and canonicalize_name(d.name) == key]
    own = sorted({d.source for d in declared if d.source in _metadata_sources(ctx)})
    if own:
        raise Unavailable(f"the project's own metadata ({', '.join(own)}) requires {name}, and the package index has "
                          "no release of it: install it from where its authors publish it (a git URL or a wheel), "
                          "or vendor it into the repository")
    section = section_of(plan)
    names = [p for p in section.packages if requirement_name(p) != key]
    files = [f.path for f in section.requirement_files]
    in_files = sorted({d.source for d in declared if d.source in files})
    added = any(requirement_name(p) == key for a in section.additions for p in a.packages)
    if names == section.packages and not in_files and not added:
        raise Unavailable(f"{name} has no release on the package index, and the plan names it nowhere it could be "
                          "left out (another dependency requires it)")
    section.packages = names
    section.additions = [a.model_copy(update={"packages": [p for p in a.packages if requirement_name(p) != key]})
                         for a in section.additions]
    section.additions = [a for a in section.additions if a.packages]
    if in_files or added:  # the drop list remembers it: a later repair does not install it again
        edits = section.edits
        section.edits = edits.model_copy(update={"files": sorted({*edits.files, *in_files}),
                                                 "drop": [*edits.drop, name] if name not in edits.drop else edits.drop})
    where = ", ".join(in_files) or ("the plan's packages" if names != section.packages or not added
                                    else "what a repair added")
    return plan.model_copy(update={"dependencies": section, "notes": f"{plan.notes}\n- repair: {name} left out "
                                   f"({where}): the package index has no release of it, for any Python, and the "
                                   "project's own metadata does not require it".strip()})


def _no_matching_distribution(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    name, spec = m.group(1), (m.group(2) or "").strip()
    if recovered_later(m, name):
        raise NotApplicable(f"{name} was found by a later pip in the same step")
    if no_release_anywhere(m):  # one answer: no Python, no unpinning will find a release
        return _nowhere_to_install(plan, name, ctx)
    if spec and _py(plan) >= (3, 10):
        try:
            return move_python(plan, ctx, ["3.9", "3.8"], f"{name}{spec} has no release for Python "
                                                          f"{running_python(plan)}")
        except Stop:
            pass
    gap = python_gap(plan, ctx)
    if gap and re.search(r"<\s*\d", spec):
        # The planner already re-pinned it to the newest release of its major version: nothing newer fits the code.
        raise Stop(f"the image has Python {running_python(plan)}; {gap}")
    return _relax_pin(plan, name, ctx)


def _relax_pin(plan: EnvPlan, name: str, ctx: DiagnosisContext) -> EnvPlan:
    """Drop the exact pin of one package in the requirement files and in the listed packages."""
    return relax_pin(plan, name, f"the pin of {name} relaxed (no such release here)")


def _numpy2(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return with_pin(plan, ctx, "numpy<2")


def _numpy_aliases(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return with_pin(plan, ctx, "numpy<1.24")


def _collections_abc(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return move_python(plan, ctx, ["3.9", "3.8"], f"collections.{m.group(1)} moved to collections.abc in Python 3.10")


#: What left torch._six when: container_abcs and int_classes in 1.9, the rest with the module in 2.0. The
#: torchvision pin keeps the pair built for each other.
_TORCH_SIX_GONE_IN_1_9 = {"container_abcs", "int_classes"}


def _torch_six(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """The traceback shows what the code took from torch._six (timm 0.3.2: container_abcs, gone since 1.9)."""
    text = m.string
    names = {n.strip() for imp in re.findall(r"from torch\._six import ([\w, ]+)", text) for n in imp.split(",")}
    names |= set(re.findall(r"cannot import name '(\w+)' from 'torch\._six'", text))
    old = bool(names & _TORCH_SIX_GONE_IN_1_9)
    torch, vision = ("torch<1.9", "torchvision<0.10") if old else ("torch<2", "torchvision<0.15")
    with_vision = "torchvision" in installs(plan, ctx)
    new = add_packages(plan, ctx, [torch, *([vision] if with_vision else []), "numpy<2"])
    ceiling = (3, 9) if old else (3, 10)
    return move_python(new, ctx, [f"3.{ceiling[1]}", "3.8"], f"{torch} has no wheels for newer Pythons") \
        if _py(plan) > ceiling else new


def _sklearn_joblib(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return move_python(with_pin(plan, ctx, "scikit-learn<0.23"), ctx, ["3.8", "3.7", "3.9"],
                       "scikit-learn<0.23 (sklearn.externals.joblib) predates newer Pythons")


def _sklearn_name(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return rename_requirement(plan, "sklearn", "scikit-learn")


def _pkg_resources(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    hook = _in_isolated_build(plan, m)
    if hook:
        return _into_the_build(plan, ctx, ["setuptools<81", "wheel"], hook)
    return add_packages(plan, ctx, ["setuptools<81"], before_failing=True)


def _use_2to3(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """The old setup.py must build with setuptools<58, which an isolated build would not see."""
    new = without_build_isolation(plan)
    section = section_of(new)
    stage = failing_stage(plan, ctx)
    section.additions.append(PackageStep(packages=["setuptools<58", "wheel"],
                                         stage="before-dependencies" if stage == "after" else stage))
    return new.model_copy(update={"dependencies": section})


def _bdist_wheel(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return add_packages(plan, ctx, ["wheel"], before_failing=True)


def _cuda_on_cpu(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return lower_smoke(set_env(plan, CUDA_VISIBLE_DEVICES=""),
                       "the code needs a CUDA GPU, which this machine's engine does not provide")


def _externally_managed(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return with_build_env(set_env(plan, PIP_BREAK_SYSTEM_PACKAGES="1"), PIP_BREAK_SYSTEM_PACKAGES="1")


def _git_missing(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return add_system(plan, "git")


def _encoding(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    new = set_env(plan, PYTHONUTF8="1", PYTHONIOENCODING="utf-8", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return with_build_env(new, PYTHONUTF8="1", LANG="C.UTF-8") if ctx.attempt.outcome == "build-failed" else new


def _data_missing(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    path = m.group(1)
    hints = [d for d in ctx.facts.data_expectations if d.kind in ("readme-instruction", "download-url")]
    where = "; ".join(f"{d.target} ({d.source})" for d in hints[:3])
    why = f"the code needs the data file {path!r}, which is not in the repository" + (
        f"; the repository says to get it with: {where}" if where else "; no download instructions were found")
    if ctx.attempt.outcome == "smoke-failed" and plan.smoke_ladder:
        return lower_smoke(plan, why)
    raise Stop(why)


def _cert(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    raise Stop("TLS certificate verification failed inside the build: a proxy intercepts TLS. Rerun with "
               "--ca-cert PATH (your organisation's CA bundle); no plan change can fix this")


#: Git repositories whose package is also released on PyPI, by repository name (lower case).
GIT_TO_PYPI = {"cocoapi": "pycocotools", "pytorch-image-models": "timm", "transformers": "transformers",
               "diffusers": "diffusers", "accelerate": "accelerate", "peft": "peft", "einops": "einops",
               "pytorch-fid": "pytorch-fid", "perceptualsimilarity": "lpips", "kornia": "kornia",
               "fairscale": "fairscale", "segment-anything": "segment-anything", "lvis-api": "lvis",
               "tensorboardx": "tensorboardX", "pytorch-lightning": "pytorch-lightning", "lightning": "lightning",
               "gym": "gym", "gymnasium": "gymnasium", "jax": "jax", "flax": "flax", "optax": "optax",
               "sentencepiece": "sentencepiece", "tokenizers": "tokenizers", "datasets": "datasets"}


def _git_name(raw: str) -> tuple[str, str]:
    """(URL without the git+ prefix and fragment, the package's name: egg= if given, else the repository's)."""
    url = raw.strip().removeprefix("-e ").strip()
    url = re.sub(r"^[\w.-]+\s*@\s*", "", url).removeprefix("git+")  # PEP 508 `name @ git+https://...`
    egg = re.search(r"[#&]egg=([\w.\-]+)", url)
    head, _, last = url.split("#")[0].rstrip("/").rpartition("/")
    base = f"{head}/{last.split('@')[0]}"  # a ref (@v1.0) follows the repository's name, a user (git@) precedes the host
    repo = base.rsplit("/", 1)[-1].removesuffix(".git")
    return base, egg.group(1) if egg else repo


def _git_unreachable(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """The build reaches PyPI but not the forge: install the PyPI release of each git dependency on that host when
    one is known (detr's cocoapi is pycocotools), and say which have none."""
    host = m.group(2)
    deps = [d for d in ctx.facts.dependencies if d.kind == "git" and d.group is None and host in d.raw]
    known: list[tuple[Dependency, str, str]] = []
    unknown: list[tuple[Dependency, str, str]] = []
    for d in deps:
        url, name = _git_name(d.raw)
        pypi = GIT_TO_PYPI.get(url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").lower())
        (known if pypi else unknown).append((d, url, pypi or name))
    if unknown or not known:
        which = ", ".join(f"{name} ({url})" for _, url, name in unknown) or m.group(1)
        raise Stop(f"the build cannot reach {host}, and {which} comes only from there: make {host} reachable "
                   "(HTTP(S)_PROXY are passed as build args) or vendor the package into the repository"
                   + (f"; {', '.join(p for _, _, p in known)} could come from PyPI instead" if known else ""))
    swaps = [GitToPypi(file=d.source, url=url, package=pypi) for d, url, pypi in known]
    raw = {d.raw.removeprefix("-e ").strip(): pypi for d, _, pypi in known}
    return swap_git_for_pypi(plan, swaps, raw, f"{host} is out of reach; from PyPI instead: "
                             + ", ".join(f"{p} (for {u})" for _, u, p in known))


def _network(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    seen = m.group(0).strip()[:80]
    if ctx.attempt.outcome == "smoke-failed":
        # The smoke run has no network by design; the engine's DNS is not the problem.
        raise Stop(f"the smoke command tried to ({seen}), and the smoke run has no network unless asked: "
                   "give it a command that needs no download, or run with --network (or approve a plan with "
                   "network: true at the gate)")
    raise Stop(f"the build needed it ({seen}); check the engine's DNS and proxy settings (HTTP(S)_PROXY are "
               "passed as build args)")


def _hub_offline(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    why = ("the smoke command fetches a model or file from the Hugging Face hub, and the smoke run has no network "
           "(run with --network, or approve a plan with network: true at the gate, to let it)")
    if ctx.attempt.outcome == "smoke-failed" and plan.smoke_ladder:
        return lower_smoke(plan, why)
    raise Stop(why)


def _disk_full(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """A full disk is the machine's state, not the plan's: no plan change helps, and whatever package was being
    installed when it filled is not to blame. The run stops at once with what to free; a resume retries the plan."""
    if ctx.attempt.outcome == "smoke-failed":
        from ...build.limits import SMOKE_TMPFS

        raise Stop(f"the smoke run filled the space it is given (/tmp is a {SMOKE_TMPFS} tmpfs; the container's own "
                   "files are capped too): give it a smaller configuration, or check the engine's free disk "
                   "(`paper2run-tui cleanup` frees what earlier runs left)")
    where = "while Docker stored the step's layer" if re.search(
        r"register layer|Error processing tar file|failed to (?:solve|export|commit|copy)|committing|snapshot",
        m.string[max(0, m.start() - 300):m.end()], re.IGNORECASE) else "while the step wrote its files"
    raise Stop(f"the Docker engine's disk filled during the build ({where}); the plan is not at fault and no "
               "package is missing. Free space on the engine (`paper2run-tui cleanup` removes the images and "
               "containers this tool made; `docker builder prune` the build cache; a PyTorch build needs about "
               "6 GB), then resume the run from this attempt: the same plan is retried")


def _engine_failure(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    raise Stop(f"the container engine failed, not the plan ({m.group(0).strip()[:120]}): check that the engine "
               "is running and healthy, then resume the run from this attempt")


def _oom(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    raise Stop("the process was killed for using too much memory: raise --memory (now the container limit), or "
               "choose a smaller configuration for the smoke command")


def _cython(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    new = add_packages(add_system(plan, "build-essential"), ctx, ["cython<3", "numpy"], before_failing=True)
    return without_build_isolation(new)


def _old_pip(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """pip 24.1 refuses releases whose metadata has a legacy specifier (pytorch-lightning 1.5.6 asks for
    `torch (>=1.7.*)`); pip 24.0 still installs them. The pip upgrade step keeps setuptools and wheel new."""
    if plan.exclude_newer:
        # Resolving as of a date needs pip 25.3, which refuses this metadata: the two cannot go together.
        plan = without_time_travel(plan, "repair: no resolution as of the commit date (it needs pip 25.3, which "
                                         "refuses legacy metadata)")
    if plan.dependencies is not None and plan.dependencies.pip == "pip<24.1":
        raise Stop("even pip 24.0 refuses it; the release's metadata is broken")
    new = with_pip(plan, "pip<24.1")
    return new.model_copy(update={"notes": f"{plan.notes}\n- repair: pip<24.1, which still installs releases with "
                                           "legacy metadata"})


def _resolution(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    if plan.dependencies is not None and plan.dependencies.lock is not None:
        # A lock that no longer agrees with its manifest (edited by hand, or for another platform): without it.
        return without_lock(plan, "the lock file's versions conflict with the declared dependencies; installed "
                                  "without them")
    if plan.exclude_newer:
        raise Stop("the dependencies conflict even as of the commit date; the pins themselves contradict each other")
    return time_travel(plan, ctx)


def _wheel_build_failed(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    name = next((g for g in m.groups() if g), "a dependency")
    if "build-essential" not in plan.system_packages:
        return add_system(plan, "build-essential", "python3-dev")
    if not plan.exclude_newer and ctx.facts.commit_date is not None:
        return time_travel(plan, ctx)
    return move_python(plan, ctx, ["3.9", "3.8"], f"{name} could not be built for Python {running_python(plan)}")


def _tf1(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    new = with_pin(plan, ctx, "tensorflow<2")
    return move_python(new, ctx, ["3.7"], "TensorFlow 1.x APIs (tf.placeholder, tf.Session) need tensorflow<2, "
                                          "which needs Python 3.7")


def _api_moved_on(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    """A name the code imports from a library is gone from the release installed: the library moved on since the
    commit (PyTorch-VAE's `seed_everything` left pytorch_lightning.utilities.seed). Resolve as of the commit date."""
    name, module = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
    top = module.split(".")[0]
    if top in ctx.facts.local_modules or top in STDLIB or dist_for_import(top) is None:
        raise NotApplicable(module)  # the repository's own code, or Python itself: not a library that moved on
    dist = dist_for_import(top)
    if plan.exclude_newer:
        raise Stop(f"{module}.{name} is missing even with {dist} as of the commit date: the code needs a {dist} "
                   "release older than its own commit (pin one in the requirements)")
    try:
        return time_travel(plan, ctx)
    except Stop as stop:
        raise Stop(f"the installed {dist} no longer has {module}.{name}, and {stop}: pin the {dist} release the code "
                   "was written for") from None


#: Standard-library modules and names, and the Python release that removed them (PEPs 594 and 632, and the
#: deprecations that ran out): code that uses one needs the Python before.
STDLIB_REMOVED: dict[str, str] = {
    "imp": "3.12", "asynchat": "3.12", "asyncore": "3.12", "smtpd": "3.12",
    **dict.fromkeys(["cgi", "cgitb", "pipes", "imghdr", "crypt", "telnetlib", "nntplib", "audioop", "chunk",
                     "mailcap", "sndhdr", "sunau", "uu", "xdrlib", "spwd", "nis", "ossaudiodev", "msilib",
                     "lib2to3"], "3.13"),
    "inspect.getargspec": "3.11", "inspect.formatargspec": "3.11", "asyncio.coroutine": "3.11",
    "time.clock": "3.8", "platform.linux_distribution": "3.8", "platform.dist": "3.8", "cgi.escape": "3.8",
    "base64.encodestring": "3.9", "base64.decodestring": "3.9", "fractions.gcd": "3.9",
    "configparser.SafeConfigParser": "3.12", "unittest.makeSuite": "3.13", "unittest.findTestCases": "3.13",
    "locale.format": "3.12", "ssl.wrap_socket": "3.12", "ssl.match_hostname": "3.12",
}
_MODULES = "|".join(re.escape(k) for k in STDLIB_REMOVED if "." not in k)
_NAMES = [k.split(".", 1) for k in STDLIB_REMOVED if "." in k]
_NAMED = "|".join(f"{re.escape(mod)}' has no attribute '{re.escape(name)}" for mod, name in _NAMES)
_FROM = "|".join(f"{re.escape(name)}' from '{re.escape(mod)}" for mod, name in _NAMES)


def _stdlib_what(m: re.Match[str]) -> str:
    """inspect.getargspec, from whichever of the three messages matched."""
    what = m.group(1) or m.group(2) or m.group(3)
    if "' has no attribute '" in what:
        mod, name = what.split("' has no attribute '")
        return f"{mod}.{name}"
    if "' from '" in what:
        name, mod = what.split("' from '")
        return f"{mod}.{name}"
    return what


def _stdlib_removed(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    what = _stdlib_what(m)
    removed = Version(STDLIB_REMOVED[what])
    if Version(running_python(plan)) < removed:
        raise NotApplicable(what)  # this Python still has it: something else is wrong
    why = f"{what} was removed in Python {removed}"
    if ctx.local_images or ctx.base_image_map:
        # Only an older Python helps: never "the nearest" one, which may be just as new.
        have = sorted({*local_python_versions(ctx.local_images), *ctx.base_image_map}, key=Version, reverse=True)
        older = [v for v in have if Version(v) < removed]
        if not older:
            raise Stop(f"{why}; no base image with Python 3.{removed.minor - 1} or older is available here (map one "
                       "with PAPER2RUN_BASE_IMAGE_MAP)")
        return move_python(plan, ctx, older, why)
    return move_python(plan, ctx, [f"3.{removed.minor - 1}"], why)


def _display(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return set_env(plan, MPLBACKEND="Agg", QT_QPA_PLATFORM="offscreen", SDL_VIDEODRIVER="dummy")


def _rust(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return add_system(plan, "rustc", "cargo", "build-essential")


def _python2(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    raise Stop("the code is Python 2 (print statements / old syntax); Python 2 images are not supported — the code "
               "would need porting (2to3)")


def _torchtext_legacy(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    # pip then takes the torch that torchtext 0.8 was built for (1.7.1, which has wheels up to Python 3.9).
    new = add_packages(plan, ctx, OLD_TORCHTEXT)
    return move_python(new, ctx, ["3.9", "3.8"], "torchtext 0.8 and its torch have no wheels for newer Pythons") \
        if _py(plan) > (3, 9) else new


def _torch_extension_abi(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    raise Stop(f"{m.group(1)} was built for another torch release than the one installed; install the {m.group(1)} "
               "release made for that torch (each one names its torch in its requirements) or pin both together")


def _scipy_misc(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return move_python(with_pin(plan, ctx, "scipy<1.2"), ctx, ["3.7"],
                       f"scipy.misc.{m.group(1)} was removed in SciPy 1.2, which predates newer Pythons")


def _distutils(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    if _py(plan) >= (3, 12):
        return move_python(plan, ctx, ["3.11", "3.10"], "distutils was removed in Python 3.12")
    # On an older Python the missing distutils is today's setuptools meeting an old sdist: build it with the tools
    # of its own time.
    if plan.exclude_newer:
        raise Stop("an old dependency needs distutils even with the packages of its own time")
    return time_travel(plan, ctx)


def _markupsafe(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return with_pin(plan, ctx, "markupsafe<2.1")


def _protobuf(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return set_env(with_pin(plan, ctx, "protobuf<3.21"), PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")


def _command_not_found(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    program = next((g for g in m.groups() if g), "?")
    return lower_smoke(plan, f"the smoke command's program {program!r} is not installed in the image")


def _no_help(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    if "--help" not in plan.smoke_command:
        raise NotApplicable("--help")
    return lower_smoke(plan, "the script's parser has no --help (it printed its usage, so its imports worked)")


def _pillow_antialias(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return with_pin(plan, ctx, "Pillow<10")


def _jax_cuda(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    return set_env(plan, JAX_PLATFORMS="cpu")


def _pip_editable_setup(plan: EnvPlan, m: re.Match[str], ctx: DiagnosisContext) -> EnvPlan:
    folder = plan.dependencies.project_dir if plan.dependencies is not None else ""
    return set_env(without_project_install(plan), PYTHONPATH=f"{plan.workdir}/{folder}" if folder else plan.workdir)


#: The machine's failures, not the plan's: tried before any reading of a package in the same log (a full disk while
#: torch installs is not torch's fault), and before an optional requirement file is left out for them.
ENVIRONMENT_RULES = frozenset({"cert-verify-failed", "network-unreachable", "disk-full", "out-of-memory",
                               "engine-failure"})

#: Failures of what pip resolved: under the planner's own time travel, today's releases are tried first.
RESOLUTION_RULES = {"no-matching-distribution", "resolution-impossible", "wheel-build-failed", "requires-python",
                    "ignored-requires-python", "distutils-removed", "numpy-distutils-sdist", "cython-missing",
                    "use-2to3", "bdist-wheel-missing"}

RULES: list[Rule] = [
    Rule("cert-verify-failed", "network-tls", _r(r"CERTIFICATE_VERIFY_FAILED|SSL: CERTIFICATE_VERIFY|certificate verify failed"),
         "TLS certificate verification failed (a TLS-intercepting proxy)", _cert),
    Rule("git-unreachable", "network", _r(r"fatal: unable to access '(https?://([\w.-]+)/[^']*)': "
                                         r"(?:Could not resolve host|Failed to connect|Connection timed out|Could not connect)"),
         "git could not fetch {0}", _git_unreachable),
    Rule("network-unreachable", "network", _r(r"^(?!.*(?:/whl/|download\.pytorch\.org|fatal: unable to access))"  # the CPU-index attempt is expected to fail offline
                                            r".*(?:Temporary failure in name resolution|Could not resolve host|"
                                            r"Network is unreachable|Failed to establish a new connection)"),
         "no network could be reached", _network),
    # Python's OSError and the kernel's message (pip, cp, tar), Go's lower-case one (Docker storing a layer).
    Rule("disk-full", "resources", _r(r"(?i:no space left on device)|\[Errno 28\]|\bENOSPC\b"),
         "no space left on a device", _disk_full),
    Rule("engine-failure", "engine", _r(r"Cannot connect to the Docker daemon|error during connect:|"
                                        r"Is the docker daemon running\?|containerd\.sock[^\n]*(?:connection refused|"
                                        r"no such file)|failed to create shim(?: task)?:|"
                                        r"error reading from server: EOF"),
         "the container engine failed", _engine_failure),
    Rule("out-of-memory", "resources", _r(r"^Killed$|MemoryError|OOMKilled|exit code 137"), "out of memory", _oom),
    Rule("python2-syntax", "python2", _r(r"SyntaxError: Missing parentheses in call to 'print'|"
                                        r"SyntaxError: invalid syntax.*\n.*print [\"']|except \w+, \w+:"),
         "Python 2 code", _python2),
    Rule("sklearn-joblib", "removed-api", _r(r"No module named 'sklearn\.externals\.joblib'|cannot import name 'joblib' from 'sklearn\.externals'"),
         "sklearn.externals.joblib was removed in scikit-learn 0.23", _sklearn_joblib),
    Rule("torch-six", "removed-api", _r(r"No module named 'torch\._six'|cannot import name '(?:container_abcs|int_classes|"
                                       r"string_classes|inf)' from 'torch\._six'"),
         "torch._six is gone (container_abcs and int_classes since PyTorch 1.9, the module since 2.0)", _torch_six),
    Rule("sklearn-deprecated-name", "packaging", _r(r"The 'sklearn' PyPI package is deprecated"),
         "the 'sklearn' package name is deprecated; the distribution is scikit-learn", _sklearn_name),
    Rule("cython-missing", "build-deps", _r(r"No module named '?Cython'?|Cython is required|cythonize"),
         "the build needs Cython before the package is built", _cython),
    Rule("pkg-resources-missing", "setuptools", _r(r"No module named 'pkg_resources'"),
         "pkg_resources is gone from the newest setuptools", _pkg_resources),
    Rule("numpy-distutils-sdist", "python-too-new",
         _r(r"TypeError: C?Compiler\.__init__\(\) takes from \d+ to \d+ positional arguments but \d+ were given"),
         "an old numpy.distutils sdist (a pin without a wheel for this Python) cannot build with today's setuptools",
         _numpy_distutils_sdist),
    Rule("distutils-removed", "python-too-new", _r(r"No module named 'distutils'|ModuleNotFoundError: No module named 'distutils\.|"
                                                 r"module 'distutils' has no attribute"),
         "an old build needs distutils (gone from Python 3.12, and in part from today's setuptools)", _distutils),
    Rule("stdlib-removed", "python-too-new", _r(rf"No module named '({_MODULES})'|module '({_NAMED})'|"
                                               rf"cannot import name '({_FROM})'"),
         lambda m: f"the code uses {_stdlib_what(m)}, which Python {STDLIB_REMOVED[_stdlib_what(m)]} removed",
         _stdlib_removed),
    Rule("missing-module", "missing-module", _r(r"(?:ModuleNotFoundError|ImportError): No module named "
                                                      rf"'?(?!Cython|pkg_resources|distutils|torch\._six|sklearn\.externals|(?:{_MODULES})')([\w.]+)'?"),
         "the Python module {0} is not installed", _missing_module),
    Rule("static-imports-missing", "missing-module", _r(r"^missing modules: \[(.+)\]\s*$"),
         "the static check found modules the code imports and the image lacks ({0})", _static_missing),
    Rule("missing-shared-library", "missing-system-library", _r(r"(lib[\w.+-]+?\.so(?:\.[\d.]+)?): cannot open shared object file"),
         "the shared library {0} is missing", _shared_library),
    Rule("python-headers-missing", "build-deps", _r(r"Python\.h: No such file or directory"),
         "the Python headers are missing for a C extension", _python_headers),
    Rule("needs-terminal", "environment", _r(r"^stty: '?standard input'?: Inappropriate ioctl for device|"
                                             r"stty: not a tty|tput: No value for \$TERM"),
         "the code needs a terminal", _needs_terminal),
    Rule("compiler-missing", "build-deps", _r(r"(?:gcc|cc|g\+\+|x86_64-linux-gnu-gcc)(?:'|:)? (?:failed: No such file|not found)|"
                                             r"unable to execute '(?:gcc|cc|x86_64-linux-gnu-gcc)'|C compiler cannot create|"
                                             r"error: command '(?:gcc|cc|x86_64-linux-gnu-gcc)' failed|"
                                             r"ERROR: Unknown compiler\(s\): \[\['cc'\]"),
         "a C compiler is needed to build a dependency", _compiler),
    Rule("rust-compiler-missing", "build-deps", _r(r"can't find Rust compiler|error: can't find Rust compiler|cargo: not found"),
         "a Rust compiler is needed to build a dependency (no wheel for this Python)", _rust),
    Rule("requires-python", "python-version", _r(r"(?:Package '([\w.-]+)' )?requires a different Python: [\d.]+ not in '([^']+)'"),
         "a dependency needs Python {1}", _requires_python),
    Rule("ignored-requires-python", "python-version", _r(r"Ignored the following versions that require a different python version:(.*)$"),
         "the pinned release needs another Python", _ignored_requires_python),
    Rule("use-2to3", "setuptools", _r(r"use_2to3 is invalid|error in \S+ setup command: use_2to3"),
         "setuptools 58 removed use_2to3, which this dependency's setup.py uses", _use_2to3),
    Rule("bdist-wheel-missing", "build-deps", _r(r"invalid command 'bdist_wheel'"), "the wheel package is missing", _bdist_wheel),
    Rule("pip-invalid-metadata", "packaging", _r(r"Requested ([\w.\-]+==[\w.+!-]+) from [^\n]*has invalid metadata"
                                                r"[\s\S]{0,800}?Please use pip<24\.1 if you need to use this version"),
         "an old release ({0}) has metadata today's pip refuses (pip 24.1 dropped support for it)", _old_pip),
    Rule("resolution-impossible", "dependency-conflict", _r(r"ResolutionImpossible|conflicting dependencies|Cannot install .* because these package versions have conflicting"),
         "the dependencies conflict as they are resolved today", _resolution),
    Rule("wheel-build-failed", "build-failed", _r(r"Failed building wheel for ([\w.-]+)|Failed to build ([\w.-]+)|"
                                                 r"error: subprocess-exited-with-error[\s\S]{0,400}?Building wheel for ([\w.-]+)"),
         lambda m: f"a dependency ({next((g for g in m.groups() if g), '?')}) could not be built from source",
         _wheel_build_failed),
    Rule("no-matching-distribution", "pin-unavailable", _r(r"No matching distribution found for ([\w.\-]+?)(?:\[[\w,]+\])?((?:\s*[=<>!~]=?\s*[\w.*+!-]+,?)*)\s*$"),
         _explain_no_match, _no_matching_distribution),
    Rule("numpy2-abi", "numpy-abi", _r(r"numpy\.core\.multiarray failed to import|_ARRAY_API not found|compiled using NumPy 1\.x cannot be run in|"
                                      r"numpy\.dtype size changed"),
         "a compiled package was built against NumPy 1.x and meets NumPy 2", _numpy2),
    Rule("numpy-removed-aliases", "removed-api", _r(r"module 'numpy' has no attribute '(float|int|bool|object|complex|str|long|unicode)'"),
         "np.{0} was removed in NumPy 1.24", _numpy_aliases),
    Rule("collections-abc", "python-too-new", _r(r"cannot import name '(\w+)' from 'collections'"),
         "collections.{0} moved to collections.abc (Python 3.10)", _collections_abc),
    Rule("torchtext-legacy-api", "removed-api", _r(r"cannot import name '(Field|BucketIterator|TabularDataset|Iterator|"
                                                  r"Example|ReversibleField|NestedField)' from 'torchtext\.data'"),
         "torchtext.data.{0} was removed in torchtext 0.9 (it lived on in torchtext.legacy until 0.12)", _torchtext_legacy),
    Rule("torch-extension-abi", "dependency-conflict", _r(r"(torchtext|torchvision|torchaudio)/(?:lib/)?[\w.]+\.so: undefined symbol: "
                                                         r"_ZN(?:5torch|3c10|2at)"),
         "{0}'s compiled library does not match the installed torch", _torch_extension_abi),
    Rule("scipy-misc-removed", "removed-api", _r(r"cannot import name '(imread|imresize|imsave|toimage)' from 'scipy\.misc'"),
         "scipy.misc.{0} was removed in SciPy 1.2", _scipy_misc),
    Rule("tensorflow-v1-api", "removed-api", _r(r"module 'tensorflow' has no attribute '(placeholder|Session|contrib|get_variable|"
                                               r"variable_scope|ConfigProto)'"),
         "TensorFlow 1.x API tf.{0} is not in TensorFlow 2", _tf1),
    Rule("markupsafe-soft-unicode", "removed-api", _r(r"cannot import name 'soft_unicode' from 'markupsafe'"),
         "markupsafe 2.1 removed soft_unicode", _markupsafe),
    Rule("protobuf-descriptors", "removed-api", _r(r"Descriptors cannot (?:not )?be created directly"),
         "generated protobuf code is older than protobuf 4", _protobuf),
    Rule("pillow-antialias", "removed-api", _r(r"module 'PIL\.Image' has no attribute 'ANTIALIAS'"),
         "Image.ANTIALIAS was removed in Pillow 10", _pillow_antialias),
    # After the specific removed-API rules: any other name gone from a library the code imports.
    Rule("api-moved-on", "removed-api", _r(
        rf"ImportError: cannot import name '(?!(?:{_FROM})')(\w+)' from "
        r"'(?!(?:collections|markupsafe|scipy\.misc|sklearn\.externals|torchtext\.data|torch\._six)')([\w.]+)'|"
        rf"AttributeError: module '(?!(?:{_NAMED})')"
        r"(?!numpy' has no attribute '(?:float|int|bool|object|complex|str|long|unicode)'|"
        r"PIL\.Image' has no attribute 'ANTIALIAS'|tensorflow' has no attribute '(?:placeholder|Session|contrib|"
        r"get_variable|variable_scope|ConfigProto)')([\w.]+)' has no attribute '(\w+)'"),
         "a library the code uses no longer has the name it imports ({1}{2}.{0}{3})", _api_moved_on),
    Rule("cuda-on-cpu", "needs-gpu", _r(r"Torch not compiled with CUDA enabled|no CUDA GPUs are available|Found no NVIDIA driver|"
                                       r"CUDA driver initialization failed|nvidia-smi: not found|CUDA error: no kernel image"),
         "the code needs a CUDA GPU", _cuda_on_cpu),
    Rule("jax-cuda", "needs-gpu", _r(r"Unable to initialize backend 'cuda'|jaxlib.*CUDA"), "JAX looks for a CUDA backend", _jax_cuda),
    Rule("externally-managed", "packaging", _r(r"externally-managed-environment"),
         "the base image's Python refuses system-wide pip installs (PEP 668)", _externally_managed),
    Rule("git-missing", "build-deps", _r(r"Cannot find command 'git'|git: not found|No such file or directory: 'git'"),
         "git is needed for dependencies from git URLs", _git_missing),
    Rule("encoding-ascii", "locale", _r(r"UnicodeDecodeError: 'ascii' codec|UnicodeEncodeError: 'ascii' codec|"
                                       r"locale\.Error: unsupported locale setting"),
         "the locale is ASCII-only", _encoding),
    Rule("display-missing", "headless", _r(r"no display name and no \$DISPLAY|cannot connect to X server|"
                                          r"could not connect to display|_tkinter\.TclError"),
         "the code opens a window and there is no display", _display),
    Rule("editable-install-failed", "packaging", _r(r"(?:does not appear to be a Python project: neither 'setup\.py' nor "
                                                   r"'pyproject\.toml' found|Multiple top-level packages discovered in a flat-layout)"),
         "the repository cannot be installed as a package", _pip_editable_setup),
    Rule("hub-offline", "network", _r(r"huggingface/hub/models--[^\s']*|LocalEntryNotFoundError|"
                                      r"couldn't connect to 'https://huggingface\.co'|offline mode is enabled"),
         "the code downloads from the Hugging Face hub, and the smoke run has no network (its cache is empty)",
         _hub_offline),
    Rule("data-file-missing", "missing-data", _r(r"(?:FileNotFoundError|IOError|OSError): \[Errno 2\] No such file or directory: "
                                                r"'([^']+\.(?:csv|json|npy|npz|pt|pth|ckpt|h5|hdf5|pkl|pickle|txt|tsv|jpg|png|"
                                                r"mat|bin|tar|zip|gz|parquet|yaml|yml)|[^']*(?:data|dataset|checkpoint)[^']*)'"),
         "a data file ({0}) is missing", _data_missing),
    Rule("help-not-supported", "smoke-command", _r(r"error: unrecognized arguments: (?:.* )?--help\b"),
         "the entry point does not take --help (its parser was made with add_help=False)", _no_help),
    Rule("smoke-command-not-found", "smoke-command", _r(r"^/bin/sh: \d+: ([\w.-]+): not found|^sh: \d+: ([\w.-]+): not found"),
         "the smoke command's program {0} is not installed", _command_not_found),
]
