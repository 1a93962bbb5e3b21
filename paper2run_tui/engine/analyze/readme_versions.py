"""Versions a README states in prose: "PyTorch 0.4.0+", "tested with TensorFlow 1.x", "numpy >= 1.16".

Only for the frameworks a research repository is built on, and only as the README says them: "X+" or "X or later"
is a lower bound, "N.x" keeps the major version, and a bare "PyTorch 1.7.1" (what the authors tested with) is a
lower bound too, since newer releases of the same library mostly still run old code and old ones rarely install on
today's Python. The planner uses them for repositories without a manifest; `pip install` lines are read elsewhere.
"""

from __future__ import annotations

import re

from ..contracts.facts import Dependency

#: How READMEs name a library -> its distribution on PyPI.
_NAMES = {
    "pytorch": "torch", "torch": "torch", "torchvision": "torchvision", "torchaudio": "torchaudio",
    "tensorflow": "tensorflow", "tensorflow-gpu": "tensorflow", "keras": "keras", "jax": "jax", "numpy": "numpy",
    "scipy": "scipy", "scikit-learn": "scikit-learn", "sklearn": "scikit-learn", "pandas": "pandas",
    "networkx": "networkx", "gym": "gym", "transformers": "transformers", "dgl": "dgl",
    "torch-geometric": "torch-geometric", "torch_geometric": "torch-geometric", "opencv": "opencv-python",
    "pillow": "Pillow", "matplotlib": "matplotlib", "h5py": "h5py", "cupy": "cupy", "mxnet": "mxnet",
}
_MENTION = re.compile(
    r"(?<![\w./-])(" + "|".join(sorted((re.escape(n) for n in _NAMES), key=len, reverse=True)) + r")(?![\w-])"
    r"[ \t]*(?:version[ \t]*|v(?=\d)|\(?)?[ \t]*(==|>=|=|>)?[ \t]*v?(\d+\.(?:\d+(?:\.\d+)?|x))\b"
    r"(\+|[ \t]+(?:or|and)[ \t]+(?:later|above|higher|newer|up)\b)?",
    re.IGNORECASE,
)


def _specifier(op: str | None, version: str, open_ended: bool) -> str:
    if version.endswith(".x"):
        major = int(version.split(".")[0])
        return f">={major}.0,<{major + 1}" if not open_ended else f">={major}.0"
    return f"=={version}" if op == "==" else f">={version}"


def readme_versions(text: str, source: str) -> list[Dependency]:
    """The first version the README's prose gives for each framework (pip install lines excluded)."""
    out: dict[str, Dependency] = {}
    for m in _MENTION.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_text = text[line_start:text.find("\n", m.end()) if "\n" in text[m.end():] else len(text)]
        if re.search(r"\b(pip3?|conda)\s+install\b", line_text):
            continue
        dist = _NAMES[m.group(1).lower()]
        if dist in out:
            continue
        spec = _specifier(m.group(2), m.group(3), bool(m.group(4)))
        out[dist] = Dependency(name=dist, specifier=spec, raw=m.group(0).strip(), source=source,
                               line=text.count("\n", 0, m.start()) + 1, group="readme")
    return list(out.values())
