"""The deterministic planner: a real plan from the facts alone, every choice explained in plan.notes.

The plan's dependency section says what to install (render/install.py writes the steps). Layering matters: the
dependencies install from their manifests (or from the declared list) before the source is copied; the project
itself is installed with --no-deps after it, so a source change or a smoke-command repair reuses the dependency
layers.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..contracts import EnvPlan, RepoFacts, SmokeRung
from ..contracts.dependencies import DependencySection, IndexedPackages
from ..contracts.facts import Dependency
from ..ports import CancelToken, EventSink
from .base import PlanContext, PlanResult
from .installers import INSTALLERS, PlanJob
from .installers.inferred import with_stated_versions
from .installers.project import project_folder
from .installers.requirements import dependency_key, split_requirements
from .packages import TORCH_CPU_INDEX, TORCH_FAMILY, dist_for_import, system_packages_for
from .python_version import choose_python, image_python, local_python_versions, nearest_available
from .time_travel import PLANNER_MARK, commit_age, era_python, with_time_travel


def _requirement(dep: Dependency) -> str:
    """The requirement as pip reads it (the renderer quotes it)."""
    text = dep.raw if dep.kind in ("git", "url") else f"{dep.name}{'[' + ','.join(dep.extras) + ']' if dep.extras else ''}{dep.specifier}"
    if dep.marker and dep.kind == "pypi":
        text += f"; {dep.marker}"
    return text.removeprefix("-e ").strip()


def _is_torch(dep: Dependency) -> bool:
    return canonicalize_name(dep.name) in TORCH_FAMILY


def _torch_packages(deps: list[Dependency]) -> list[str]:
    """The torch family's requirements, for their own step from the CPU wheel index when no GPU is needed (hundreds
    of MB instead of GBs), falling back to the default index when that one is unreachable."""
    # Local version labels (+cu113, +cpu) name a build from PyTorch's own index; PyPI knows only the plain version.
    return [f"{'torch' if canonicalize_name(d.name) == 'pytorch' else d.name}{re.sub(r'[+][A-Za-z0-9.]+', '', d.specifier)}"
            for d in deps if _is_torch(d)]


_PIN_STRENGTH = (("==", 3), ("~=", 2), ("<", 2), (">", 1), ("!", 1))


def _merge_duplicates(deps: list[Dependency], notes: list[str]) -> list[Dependency]:
    """One requirement per distribution: the same one named by two files (setup.py's `torch` and
    environment.yml's `pytorch=1.7.0`) would be two requirements to pip, which it reports as a conflict."""
    def strength(d: Dependency) -> int:
        return next((n for op, n in _PIN_STRENGTH if op in d.specifier), 0)

    chosen: dict[str, Dependency] = {}
    order: list[str] = []
    for dep in deps:
        key = canonicalize_name(dep.name) if dep.kind in ("pypi", "conda") else dep.raw
        if key not in chosen:
            chosen[key] = dep
            order.append(key)
        elif strength(dep) > strength(chosen[key]):
            notes.append(f"{dep.name}{dep.specifier} ({dep.source}) over {chosen[key].name}{chosen[key].specifier} "
                         f"({chosen[key].source}): one requirement per distribution")
            chosen[key] = dep
    return [chosen[k] for k in order]


def _builds_extensions(repo_dir: Path) -> bool:
    try:
        text = (repo_dir / "setup.py").read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return False
    return "ext_modules" in text or "Extension(" in text or "cythonize" in text



_EXTRAS = re.compile(r"(^|/)(tests?|examples?|docs?|notebooks|benchmarks|scripts)/|(^|/)test_[^/]*$|_test\.py$")


def library_imports(facts: RepoFacts) -> list[str]:
    """Third-party modules the library code imports unconditionally: at the top of a module (not in a `try`, a
    function or an `if`) of the package the import rung imports, or of the loose library module; its tests and
    examples left out. What importing the library needs, declared or not."""
    library = [c.source for c in facts.smoke_candidates if c.kind == "import"]
    folders = tuple(p for name in library for p in (f"{name}/", f"src/{name}/"))
    files = {f"{name}.py" for name in library}
    return [imp.module for imp in facts.imports if dist_for_import(imp.module) and any(
        (rel.startswith(folders) or rel in files) and not _EXTRAS.search(rel) for rel in imp.top_level_in)]


def _checkable_imports(facts: RepoFacts, deps: list[Dependency]) -> list[str]:
    """Imports the static check holds the environment to: those that map to a declared dependency, and the
    undeclared ones the library code imports unconditionally (library_imports), so a presence check does not pass
    over what no manifest names. Tests, examples and scripts often import extras, and optional or lazy imports
    are the code's own choice: they are left out."""
    declared = {canonicalize_name(d.name) for d in deps}
    hard = set(library_imports(facts))
    return [imp.module for imp in facts.imports if (dist := dist_for_import(imp.module))
            and (canonicalize_name(dist) in declared or imp.module in hard)]


def static_import_check(modules: list[str]) -> str:
    """A command that checks every third-party module the code imports can be found, without importing any."""
    mods = ",".join(repr(m) for m in modules[:60])
    return ('python -c "import importlib.util as u, sys; '
            f"missing = [m for m in ({mods},) if u.find_spec(m) is None]; "
            "print('missing modules:', missing) if missing else print('all imports resolvable'); "
            'sys.exit(1 if missing else 0)"')


def smoke_ladder(facts: RepoFacts, import_names: list[str]) -> tuple[list[SmokeRung], str, list[str]]:
    """(ladder lowest first, smoke command, reasons)."""
    ladder: list[SmokeRung] = []
    reasons: list[str] = []
    if import_names:
        ladder.append(SmokeRung(rung="static-imports", command=static_import_check(import_names)))
    imports = [c for c in facts.smoke_candidates if c.kind == "import"]
    if imports:
        ladder.append(SmokeRung(rung="import-package", command=imports[0].command))
    helps = [c for c in facts.smoke_candidates if c.kind == "entrypoint-help" and not c.needs_data]
    if helps:
        ladder.append(SmokeRung(rung="entrypoint-help", command=helps[0].command))
    tests = [c for c in facts.smoke_candidates if c.kind == "tests" and not c.needs_data]
    if tests:
        ladder.append(SmokeRung(rung="tests", command="timeout 600 " + tests[0].command))
    toys = [c for c in facts.smoke_candidates if c.kind == "toy-run"]
    if toys:
        ladder.append(SmokeRung(rung="toy-run", command=toys[0].command))
        reasons.append(f"smoke ladder tops out with a CPU toy run, without network: {toys[0].command[:80]} "
                       f"({toys[0].reason})")
    for rung in ("entrypoint-help", "import-package", "static-imports"):
        chosen = next((r for r in ladder if r.rung == rung), None)
        if chosen:
            why = next((c.reason for c in facts.smoke_candidates if c.command == chosen.command), "")
            reasons.append(f"smoke: {chosen.command[:80]} ({rung}{': ' + why if why else ''})")
            return ladder, chosen.command, reasons
    reasons.append("smoke: no entry point or package found; compiling every module is the best proof available")
    return ladder, "python -m compileall -q .", reasons


def _start(ctx: PlanContext) -> PlanJob:
    """The job the installers work on: which requirement files are the project's, which declared dependencies the
    environment needs (main group only; a requirements file that is not installed, a subfolder's for an evaluation
    suite, lends none)."""
    facts = ctx.facts
    main, install_self = split_requirements(facts)
    req_files = {m.source for m in facts.manifests if m.kind == "requirements"}
    declared = [d for d in facts.dependencies if d.group is None and d.kind in ("pypi", "git", "url")
                and not d.source.endswith("package.json") and (d.source not in req_files or d.source in main)]
    return PlanJob(ctx=ctx, main_requirements=main, requirements_install_self=install_self, declared=declared)


class DeterministicPlanner:
    """Plans without an LLM. The same facts always give the same plan."""

    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult:
        facts = ctx.facts
        messages: list[str] = []
        job = _start(ctx)
        notes = job.notes
        active = []
        for installer in INSTALLERS:
            if installer.detect(job):
                installer.collect(job)
                active.append(installer)

        all_deps = _merge_duplicates(job.declared + job.extra, notes)
        if facts.code_versions:  # requirement files are installed as written (-r): only the other lists take it
            listed = [d for d in all_deps if d.source not in job.main_requirements]
            stated = with_stated_versions(listed, facts.code_versions, "the code checks", notes)
            pinned = {id(old): new for old, new in zip(listed, stated, strict=True)}
            all_deps = [pinned.get(id(d), d) for d in all_deps]
        hints = [h for h in facts.python_hints if h.source not in job.set_aside]
        version, why = choose_python([*hints, *job.python_hints],
                                     all_deps + (job.lock.pins if job.lock else []), facts.commit_date)
        notes += why
        base_image = self._base_image(ctx, version, notes, messages)
        job.python, job.image_python = version, image_python(base_image, version) or version
        job.deps = all_deps
        hard_gpu = sorted({g.source for g in facts.gpu_markers if g.hard})
        # A CUDA build only when the code needs a GPU and the engine can give it one: without a GPU runtime the
        # smoke runs on the CPU anyway, and the CPU build of torch is a few hundred MB instead of several GB.
        gpu = bool(hard_gpu) and ctx.gpu_available is not False
        cpu_fallback = gpu
        if gpu:
            notes.append("GPU: the code calls CUDA without a CPU branch in " + ", ".join(hard_gpu[:3])
                         + "; the plan asks for a GPU and allows the CPU for the smoke run")
        elif hard_gpu:
            notes.append("GPU: the code calls CUDA without a CPU branch in " + ", ".join(hard_gpu[:3])
                         + "; this engine has no GPU runtime, so the plan is for the CPU (on a machine with one, "
                         "the plan asks for a GPU and the CUDA build of torch)")

        section = job.section = DependencySection(python=version, pip="pip")
        for installer in active:
            installer.fill(job)  # may edit job.deps as the edited files will read (a renamed torch)
        all_deps = job.deps
        torch = _torch_packages(all_deps)
        if torch:
            section.indexes.append(IndexedPackages(packages=torch, index_url=None if gpu else TORCH_CPU_INDEX))
            notes.append("PyTorch from its CPU wheel index (falls back to the default index)" if not gpu else
                         "PyTorch from the default index (CUDA build) for the GPU")
        if job.install_as_list:
            section.packages = [_requirement(d) for d in all_deps if not _is_torch(d) and d.kind != "path"
                                and (job.listed is None or dependency_key(d) in job.listed)]

        system = self._system_packages(all_deps, facts, notes, ctx.repo_dir)
        import_names = _checkable_imports(facts, all_deps)
        ladder, smoke, reasons = smoke_ladder(facts, import_names)
        notes += reasons
        if any(r.rung == "tests" for r in ladder) and not any(canonicalize_name(d.name) == "pytest" for d in all_deps):
            section.test_packages = ["pytest"]
            notes.append("pytest installed for the tests rung (the project's main dependencies do not include it)")
        travel = self._time_travel_python(ctx, all_deps, version)
        if travel is None and facts.commit_date is not None and facts.commit_date.year <= 2021:
            notes.append(f"the commit is from {facts.commit_date.date()}: if unpinned dependencies have moved on, "
                         "the time-travel repair resolves them as of that date")
        env = {"MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
        if gpu:
            env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0")
        plan = EnvPlan(
            base_image=base_image, system_packages=system, workdir="/repo", dependencies=section, env=env,
            smoke_command=smoke, requires_gpu=gpu, cpu_fallback=cpu_fallback, python_version=version, smoke_ladder=ladder, notes="\n".join(f"- {n}" for n in notes),
        )
        if travel is not None and facts.commit_date is not None:
            era, travel_why = travel
            if era != version:
                section.python = era
                plan = plan.model_copy(update={"python_version": era, "dependencies": section,
                                               "base_image": self._base_image(ctx, era, [], [])})
            plan = with_time_travel(plan, facts.commit_date, "planner",
                                    f"{PLANNER_MARK}: {travel_why}; dependencies resolved as of "
                                    f"{facts.commit_date.date()} on Python {era} (a build that fails under it is "
                                    "retried without)")
        return PlanResult(plan=plan, source="deterministic", messages=messages)

    @staticmethod
    def _time_travel_python(ctx: PlanContext, deps: list[Dependency], version: str) -> tuple[str, str] | None:
        """(Python, why) when the plan should resolve as of the commit date: an old commit (three years or more)
        whose dependencies mostly carry no version, when a Python of its time is at hand. Today's releases are then
        a guess; the commit date is the best evidence there is of what the code ran with."""
        when = ctx.facts.commit_date
        if when is None or commit_age(when) < timedelta(days=3 * 365):
            return None
        named = [d for d in deps if d.kind in ("pypi", "conda")]
        unpinned = [d for d in named if not re.match(r"^\s*(==|~=|<)", d.specifier or "")]
        if not named or len(unpinned) * 2 < len(named):
            return None
        era = era_python(when)
        if era is None:
            return None
        if Version(version) < Version(era):
            era = version  # the pins or the project want an older Python still: keep it
        hard = [h for h in ctx.facts.python_hints if h.kind in ("python_requires", "poetry", "pipfile")]
        for h in hard:
            with contextlib.suppress(InvalidSpecifier):
                if Version(era) not in SpecifierSet(h.spec):
                    return None
        local = local_python_versions(ctx.local_images)
        if ctx.local_images and era not in local and era not in ctx.base_image_map:
            return None  # no Python of that time here: today's releases on today's Python are the better bet
        return era, (f"the commit is from {when.date()} and {len(unpinned)} of {len(named)} dependencies carry no "
                     "version")

    @staticmethod
    def _base_image(ctx: PlanContext, version: str, notes: list[str], messages: list[str]) -> str:
        if version in ctx.base_image_map:
            notes.append(f"base image for Python {version} from the configured map")
            return ctx.base_image_map[version]
        tag = f"python:{version}-slim"
        local = local_python_versions(ctx.local_images)
        if ctx.local_images and tag not in ctx.local_images and local:
            if ctx.pull_image is not None and ctx.pull_image(tag):
                ctx.local_images.append(tag)
                text = f"{tag} was not present locally and was pulled: the hints and pins ask for Python {version}"
                notes.append(text)
                messages.append(text)
                return tag
            nearest = nearest_available(version, local)
            if nearest:
                tried = " and could not be pulled" if ctx.pull_image is not None else ""
                text = f"{tag} is not present locally{tried}; using the nearest local image python:{nearest}-slim"
                notes.append(text)
                messages.append(text)
                return f"python:{nearest}-slim"
        return tag

    @staticmethod
    def _system_packages(deps: list[Dependency], facts: RepoFacts, notes: list[str], repo_dir: Path) -> list[str]:
        needs = system_packages_for([d.name for d in deps])
        if any(d.kind == "git" for d in deps):
            needs.append(("git", "dependencies come from git URLs"))
        if _builds_extensions(repo_dir / (project_folder(facts) or "")):
            needs.append(("build-essential", "setup.py builds C extensions"))
        pkgs: list[str] = []
        for pkg, why in needs:
            if pkg not in pkgs:
                pkgs.append(pkg)
                notes.append(f"system package {pkg}: {why}")
        return pkgs
