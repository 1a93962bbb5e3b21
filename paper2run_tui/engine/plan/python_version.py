"""Choose the Python version from every hint and from what the pins can install on."""

from __future__ import annotations

import re
from datetime import date, datetime

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..contracts.facts import Dependency, PythonHint

CANDIDATES = ["3.11", "3.12", "3.10", "3.13", "3.9", "3.8", "3.7"]  # preference order when all fit
#: Older still: chosen only when the pins allow nothing newer (TensorFlow <= 1.12, numpy <= 1.14), never for a hint.
OLDEST = ["3.6"]
DEFAULT = "3.11"

#: (distribution, upper bound of the pinned version, newest Python that has wheels for it). Old pins of the
#: scientific stack have no wheels for new Pythons and fail to compile there.
_PIN_CEILINGS: list[tuple[str, str, str]] = [
    # TensorFlow's Linux wheels: cp36 up to 1.12, cp37 from 1.13 to 2.1, cp38 to 2.4, cp39 to 2.7, cp310 to 2.11
    # (a bound is a version: x.y.99 covers the whole x.y series).
    ("tensorflow", "1.12.99", "3.6"), ("tensorflow", "2.1.99", "3.7"), ("tensorflow", "2.4.99", "3.8"),
    ("tensorflow", "2.7.99", "3.9"), ("tensorflow", "2.11", "3.10"), ("tensorflow", "2.16", "3.11"),
    ("tensorflow-gpu", "1.12.99", "3.6"), ("tensorflow-gpu", "2.1.99", "3.7"), ("tensorflow-gpu", "2.4.99", "3.8"),
    ("tensorflow-gpu", "2.7.99", "3.9"), ("tensorflow-gpu", "2.12", "3.10"),
    ("torch", "0.4.0", "3.6"), ("torch", "1.3.99", "3.7"),
    ("torch", "1.5", "3.8"), ("torch", "1.11", "3.9"), ("torch", "1.13", "3.10"), ("torch", "2.1", "3.11"),
    ("torch", "2.5", "3.12"),
    ("torchvision", "0.6", "3.8"), ("torchvision", "0.12", "3.9"), ("torchvision", "0.14", "3.10"),
    ("torchvision", "0.16", "3.11"), ("torchvision", "0.20", "3.12"),
    ("torchaudio", "0.5", "3.8"), ("torchaudio", "0.11", "3.9"), ("torchaudio", "0.13", "3.10"), ("torchaudio", "2.1", "3.11"),
    ("numpy", "1.14.99", "3.6"), ("numpy", "1.17.2", "3.7"), ("numpy", "1.19", "3.8"), ("numpy", "1.22", "3.9"), ("numpy", "1.23.2", "3.10"), ("numpy", "1.26", "3.11"),
    ("numpy", "2.1", "3.12"),
    ("scipy", "1.1.99", "3.6"), ("scipy", "1.6", "3.8"), ("scipy", "1.8", "3.9"), ("scipy", "1.9.2", "3.10"), ("scipy", "1.11.2", "3.11"),
    ("pandas", "1.2", "3.8"), ("pandas", "1.4", "3.9"), ("pandas", "1.5", "3.10"), ("pandas", "2.1", "3.11"),
    ("scikit-learn", "0.24", "3.8"), ("scikit-learn", "1.0", "3.9"), ("scikit-learn", "1.1.3", "3.10"),
    ("scikit-learn", "1.3", "3.11"),
    ("matplotlib", "3.3", "3.8"), ("matplotlib", "3.5", "3.10"),
    ("h5py", "3.0", "3.8"), ("pillow", "8.0", "3.8"), ("opencv-python", "4.5", "3.9"),
]


def pin_ceiling(dep: Dependency) -> str | None:
    """Newest Python a pinned dependency can install on, or None when it does not limit the choice."""
    name: str = canonicalize_name(dep.name)
    if name == "pytorch":
        name = "torch"
    m = re.match(r"^(==|~=|<=|<)\s*([0-9][0-9a-z.]*)", dep.specifier.split(",")[0].strip()) if dep.specifier else None
    if m is None:
        # An upper bound anywhere in the specifier also pins the past.
        m = next((re.match(r"^(<=|<)\s*([0-9][0-9a-z.]*)", p.strip()) for p in dep.specifier.split(",")
                  if re.match(r"^\s*(<=|<)", p)), None)
    if m is None:
        return None
    try:
        pinned = Version(m.group(2).rstrip(".*"))
    except InvalidVersion:
        return None
    if m.group(1) == "<":  # '<1.20' allows 1.19.x at most
        pinned = Version(f"{pinned.major}.{max(pinned.minor - 1, 0)}") if pinned.minor else Version(f"{pinned.major - 1}.99")
    fitting = [python for dist, upper, python in _PIN_CEILINGS if dist == name and pinned <= Version(upper)]
    return min(fitting, key=Version, default=None)


def _spec_of(hint: PythonHint) -> SpecifierSet | None:
    text = hint.spec.strip().replace(" ", "")
    if re.match(r"^\d+\.\d+$", text):
        # An exact version from .python-version, runtime.txt, CI or conda means "this minor".
        return SpecifierSet(f"=={text}.*")
    if re.match(r"^\d+$", text):
        return SpecifierSet(f"=={text}.*")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


#: End of life of each Python (python.org's release schedule): a version that had reached it by the commit date
#: was no longer the one anybody tested on.
END_OF_LIFE = {"3.6": date(2021, 12, 23), "3.7": date(2023, 6, 27), "3.8": date(2024, 10, 7),
               "3.9": date(2025, 10, 31), "3.10": date(2026, 10, 31), "3.11": date(2027, 10, 31)}


def choose_python(hints: list[PythonHint], deps: list[Dependency],
                  commit_date: datetime | None = None) -> tuple[str, list[str]]:
    """(version, reasons). Hard constraints (python_requires, poetry, pipfile, pin ceilings) must hold; soft ones
    (exact versions from CI, tox, .python-version, classifiers, README) are preferences, newest first. Classifiers
    whose newest Python had reached its end of life before the commit are stale metadata, not a preference."""
    reasons: list[str] = []
    hard = [(h, s) for h in hints if h.kind in ("python_requires", "poetry", "pipfile") and (s := _spec_of(h))]
    exact_kinds = ("python-version-file", "runtime.txt", "conda")
    exact = [h for h in hints if h.kind in exact_kinds and _spec_of(h)]
    soft = [h.spec for h in hints if h.kind in ("classifier", "ci", "tox") and re.match(r"^3\.\d+$", h.spec)]
    classifiers = [h.spec for h in hints if h.kind == "classifier" and re.match(r"^3\.\d+$", h.spec)]
    newest = max(classifiers, key=Version, default=None)
    day = commit_date.date() if commit_date else None
    if newest and day and (eol := END_OF_LIFE.get(newest)) and eol < day:
        soft = [v for v in soft if v not in classifiers]
        reasons.append(f"the classifiers name Python {newest} at the newest, which had reached its end of life "
                       f"({eol}) before the commit ({day}): stale metadata, not used")
    # The README is the weakest hint: prose ("tested with Python 3.7", "Python 3.6+") that nobody checks.
    readme = [h for h in hints if h.kind == "readme" and h.spec.lstrip("<>=~!").startswith("3")]
    readme_exact = [h for h in readme if re.match(r"^3\.\d+$", h.spec)]
    readme_bounds = [(h, s) for h in readme if not re.match(r"^3\.\d+$", h.spec) and (s := _spec_of(h))]
    ceilings = [(d, c) for d in deps if d.group is None and (c := pin_ceiling(d))]
    ceiling = min((Version(c) for _, c in ceilings), default=None)

    def ok(v: str) -> bool:
        if any(Version(v) not in s for _, s in hard):
            return False
        return ceiling is None or Version(v) <= ceiling

    def ok_with_readme(v: str) -> bool:
        return ok(v) and all(Version(v) in s for _, s in readme_bounds)

    for h in exact:
        spec = _spec_of(h)
        version = next((v for v in CANDIDATES if spec and Version(v) in spec), None)
        if version and ok(version):
            reasons.append(f"Python {version} from {h.source} ({h.kind})")
            return version, reasons
    if ceilings:
        dep, c = min(ceilings, key=lambda x: Version(x[1]))
        reasons.append(f"Python <= {c} because {dep.name}{dep.specifier} ({dep.source}) has no wheels for newer ones")
    for h, s in hard:
        reasons.append(f"requires Python {s} ({h.source})")
    preferred = sorted({v for v in soft if v in CANDIDATES}, key=Version, reverse=True)
    for v in preferred:
        if ok(v):
            reasons.append(f"Python {v}: the newest version the project tests or declares (CI/tox/classifiers)")
            return v, reasons
    for h in readme_exact:
        if h.spec in CANDIDATES and ok_with_readme(h.spec):
            reasons.append(f"Python {h.spec}: the version the README names ({h.source}, line {h.line})")
            return h.spec, reasons
    for v in CANDIDATES + OLDEST:
        if ok_with_readme(v):
            if readme_bounds and not hard and not ceilings:
                h, spec = readme_bounds[0]
                reasons.append(f"Python {v}: the README asks for Python {spec} ({h.source}, line {h.line})")
            elif not any(r.startswith("Python ") for r in reasons):
                reasons.append(f"Python {v}: no version hints, the default")
            return v, reasons
    for v in CANDIDATES + OLDEST:
        if ok(v):
            reasons.append(f"Python {v}: the README's Python ({', '.join(h.spec for h in readme)}) contradicts "
                           "the manifests, which win")
            return v, reasons
    reasons.append(f"the hints contradict each other; using Python {DEFAULT}")
    return DEFAULT, reasons


def image_python(base_image: str, fallback: str | None) -> str | None:
    """The X.Y of a python:X.Y[-variant] image, else the fallback (a mapped or custom image keeps the plan's)."""
    m = re.match(r"^(?:[\w.-]+/)*python:(3\.\d+)(?:[.-]|$)", base_image)
    return m.group(1) if m else fallback


def local_python_versions(images: list[str]) -> list[str]:
    """The X.Y versions of the python:X.Y-slim images present locally."""
    return sorted({m.group(1) for t in images if (m := re.match(r"^python:(3\.\d+)-slim$", t))}, key=Version)


def nearest_available(version: str, available: list[str]) -> str | None:
    """The closest available version (by minor distance, older preferred on ties)."""
    if not available:
        return None
    target = Version(version)
    return min(available, key=lambda v: (abs(Version(v).minor - target.minor), Version(v) > target))
