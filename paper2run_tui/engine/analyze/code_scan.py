"""Read the code as text (ast for Python, regexes for markers): imports, GPU markers, data the code expects,
scripts with a CLI. Nothing is imported or executed."""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from ..contracts.facts import DataExpectation, GpuMarker
from .walk import RepoFile, Walk

STDLIB = set(sys.stdlib_module_names) | {"__future__"}
#: Old standard-library names that Python 2 code imports.
PY2_STDLIB = {"urllib2", "cPickle", "StringIO", "cStringIO", "Queue", "ConfigParser", "httplib", "urlparse",
              "HTMLParser", "commands", "thread", "itertools2", "__builtin__", "exceptions", "sets", "md5"}

#: Submodules that import another distribution's top-level module: the code imports it too, in effect.
IMPLIED_IMPORTS = {"torch.utils.tensorboard": "tensorboard"}

_GPU_PATTERNS = [
    (re.compile(r"\.cuda\(\)"), ".cuda()"),
    (re.compile(r"torch\.cuda\.[a-z_]+"), "torch.cuda"),
    (re.compile(r"""device\s*=\s*['"]cuda"""), "device='cuda'"),
    (re.compile(r"""torch\.device\(\s*['"]cuda['"]\s*\)"""), "torch.device('cuda')"),
    (re.compile(r"^\s*(?:import|from)\s+cupy\b", re.MULTILINE), "cupy"),
    (re.compile(r"^\s*(?:import|from)\s+apex\b", re.MULTILINE), "apex"),
    (re.compile(r"^\s*(?:import|from)\s+flash_attn\b", re.MULTILINE), "flash_attn"),
    (re.compile(r"tf\.config\.(?:experimental\.)?list_physical_devices\(\s*['\"]GPU"), "tf GPU devices"),
]
_CPU_BRANCH = re.compile(r"cuda\.is_available\(\)|['\"]cpu['\"]|map_location|no_cuda|--cpu|use_cuda|args\.cuda")
_URL = re.compile(r"""https?://[^\s'"<>)\]]+\.(?:zip|tar\.gz|tgz|tar|gz|pt|pth|ckpt|h5|hdf5|npz|npy|pkl|bin|safetensors|csv|json)\b""")
#: A data folder named in a string literal: `"data/x"`, `"./checkpoints/y"`, or above the script (`"../../data/%s"`,
#: the layout of a zoo whose scripts each live in their own folder).
_LOCAL_DATA = re.compile(r"""['"]((?:\./|(?:\.\./)+)?(?:data|datasets|dataset|checkpoints?|weights|pretrained)/[^'"\s]{1,120})['"]""")
_LOADERS = [
    (re.compile(r"(?:torchvision\.)?datasets\.([A-Z][A-Za-z0-9]+)\([^)]*download\s*=\s*True"), "dataset-loader"),
    (re.compile(r"tfds\.load\(\s*['\"]([^'\"]+)"), "dataset-loader"),
    (re.compile(r"load_dataset\(\s*['\"]([^'\"]+)"), "dataset-loader"),
    (re.compile(r"from_pretrained\(\s*['\"]([^'\"]+)"), "pretrained-weights"),
    # Fetches over the network, whatever the URL looks like (nanoGPT's prepare.py gets input.txt with requests).
    (re.compile(r"\b((?:requests\.get|urlretrieve|urlopen|wget\.download|gdown\.download|torch\.hub\.load|"
                r"load_state_dict_from_url|hf_hub_download|snapshot_download)\(\s*[^,)\n]{1,120})"), "download-url"),
]
#: A version the code insists on: `assert timm.__version__ == "0.3.2"`, `assert torch.__version__ >= "1.7"`.
_VERSION_CHECK = re.compile(r"""^\s*assert\s+\(?\s*([A-Za-z_]\w*)\.__version__\s*(==|>=)\s*['"](\d+(?:\.\d+){0,3})['"]""",
                            re.MULTILINE)
_NO_HELP = re.compile(r"add_help\s*=\s*False")
#: A command line is parsed: a parser is made or asked (an `argparse` import alone, for its Namespace, parses
#: nothing, and such a script's `--help` runs its work), or a CLI library is used.
_CLI = re.compile(r"\bArgumentParser\(|\bparse(?:_known)?_args\(|\bimport click\b|\bfrom click\b|\bimport typer\b|"
                  r"\bfire\.Fire\b|\babsl\.app\b|\bhydra\b|\btyro\.cli\(")
_MAIN_GUARD = re.compile(r"""if\s+__name__\s*==\s*['"]__main__['"]""")
#: A script that cannot run without arguments: a required option, a positional argument, argv read by hand.
_NEEDS_ARGS = re.compile(r"""required\s*=\s*True|add_argument\(\s*['"][^-'"]|click\.argument\(|sys\.argv\[\s*[1-9]""")


#: Module-level calls that do no real work before the arguments are parsed.
_HARMLESS_CALLS = {"add_argument", "add_argument_group", "add_mutually_exclusive_group", "set_defaults", "makedirs",
                   "mkdir", "filterwarnings", "simplefilter", "append", "insert", "seed", "manual_seed", "basicConfig",
                   "getLogger", "setLevel", "ArgumentParser", "use", "environ", "get", "dirname", "abspath", "join"}


def parses_args_before_work(code: str) -> bool:
    """A script without a __main__ guard whose module level does nothing but imports, definitions, constants and
    parser set-up before it calls parse_args(): `--help` then exits after the imports and before any work, like
    the scripts of PyTorch-GAN."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for stmt in tree.body:
        calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        names = {c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "") for c in calls}
        if names & {"parse_args", "parse_known_args"}:
            return True
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr)) and names <= _HARMLESS_CALLS:
            continue
        if isinstance(stmt, ast.Try) and not calls:
            continue
        return False
    return False


@dataclass
class CodeFacts:
    imports: Counter[str] = field(default_factory=Counter)
    first_import_source: dict[str, str] = field(default_factory=dict)
    #: module -> the first few files that import it at column 0 (always run when the file is imported)
    top_level_sources: dict[str, list[str]] = field(default_factory=dict)
    gpu_markers: list[GpuMarker] = field(default_factory=list)
    data: list[DataExpectation] = field(default_factory=list)
    cli_scripts: dict[str, bool] = field(default_factory=dict)  # rel -> has a __main__ guard
    needs_args: set[str] = field(default_factory=set)  # CLI scripts that cannot run without arguments
    main_guarded: set[str] = field(default_factory=set)  # .py files with an `if __name__ == "__main__":` block
    #: `assert timm.__version__ == "0.3.2"`: module -> (operator, version, file, line), the first one seen
    version_checks: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)
    py2_files: list[str] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)
    truncated: bool = False


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def notebook_code(text: str) -> str:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError:
        return ""
    cells = nb.get("cells") or []
    parts = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            src = cell.get("source") or ""
            src = "".join(src) if isinstance(src, list) else str(src)
            # Magics and shell lines are not Python.
            parts.append("\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return "\n".join(parts)


_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([\w., \t]+?)(?:[ \t]+as[ \t]+\w+)?[ \t]*(?:#.*)?$)",
                          re.MULTILINE)
_PRINT_STATEMENT = re.compile(r"^[ \t]*print[ \t]+[\"'\w]", re.MULTILINE)


_TOP_IMPORT_LINE = re.compile(r"^(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b|import[ \t]+([\w., \t]+?)"
                              r"(?:[ \t]+as[ \t]+\w+)?[ \t]*(?:#.*)?$)", re.MULTILINE)


def imports_in(code: str, top_level: bool = False) -> list[str]:
    """Top-level module names of absolute imports, read from the text (one regex pass; faster than ast on large
    trees and tolerant of Python 2 files). Relative imports ('from . import x') are the repo's own. top_level:
    only the imports at column 0, which run whenever the module is imported."""
    names: list[str] = []
    for m in (_TOP_IMPORT_LINE if top_level else _IMPORT_LINE).finditer(code):
        dotted = [m.group(1)] if m.group(1) else [p.strip().split(" as ")[0].strip() for p in m.group(2).split(",")]
        for name in filter(None, dotted):
            names.append(name.split(".")[0])
            names += [needs for sub, needs in IMPLIED_IMPORTS.items() if name == sub or name.startswith(sub + ".")]
    return [n for n in names if n.isidentifier()]


def scan_code(walk: Walk, files: list[RepoFile], deadline: float | None = None) -> CodeFacts:
    out = CodeFacts()
    package_dirs = {f.rel.rpartition("/")[0] for f in walk.files if f.name == "__init__.py"}
    for i, f in enumerate(files):
        if deadline is not None and i % 256 == 0 and time.monotonic() > deadline:
            out.truncated = True
            break
        text = walk.read(f)
        if text is None:
            continue
        code = notebook_code(text) if f.suffix == ".ipynb" else text
        if f.suffix == ".py":
            if _PRINT_STATEMENT.search(code):
                out.py2_files.append(f.rel)
            if _MAIN_GUARD.search(code):
                out.main_guarded.add(f.rel)
            if _CLI.search(code) and not _NO_HELP.search(code):  # add_help=False: `--help` is an error there
                out.cli_scripts[f.rel] = f.rel in out.main_guarded or parses_args_before_work(code)
                if _NEEDS_ARGS.search(code):
                    out.needs_args.add(f.rel)
        if "__version__" in code:
            for vm in _VERSION_CHECK.finditer(code):
                out.version_checks.setdefault(vm.group(1), (vm.group(2), vm.group(3), f.rel, _line_of(code, vm.start())))
        for mod in imports_in(code):
            out.imports[mod] += 1
            out.first_import_source.setdefault(mod, f.rel)
        for mod in set(imports_in(code, top_level=True)):
            where = out.top_level_sources.setdefault(mod, [])
            if len(where) < 8:
                where.append(f.rel)
        if "cuda" in code or "cupy" in code or "GPU" in code or "apex" in code or "flash_attn" in code:
            _gpu(code, f.rel, out, f.suffix == ".py" and f.rel.rpartition("/")[0] in package_dirs)
        if len(out.data) < 200 and ("/" in code or "(" in code):  # the list is capped: stop scanning once full
            _data(code, f.rel, out)
    return out


def _is_parameter_default(code: str, pos: int) -> bool:
    """`def f(..., device="cuda")`: a default the caller can change, not a need."""
    start = code.rfind("def ", 0, pos)
    return start != -1 and not re.search(r"\)\s*(->[^:]+)?:", code[start:pos])


def _gpu(code: str, rel: str, out: CodeFacts, library_module: bool) -> None:
    """Which CUDA uses are hard needs. Soft: in a package's module, CUDA calls under `if __name__ == "__main__":`
    (a demo of the module: vit-pytorch's look_vit.py ends with `model.cuda()`); anything in a notebook (an example,
    not the code a container runs); `device="cuda"` as a parameter default (denoising-diffusion-pytorch's FID
    evaluator)."""
    guard = _MAIN_GUARD.search(code) if library_module else None
    demo_from = guard.start() if guard else len(code)
    found = []
    for pattern, label in _GPU_PATTERNS:
        m = pattern.search(code)
        if m:
            needed = m.start() < demo_from and not (label == "device='cuda'" and _is_parameter_default(code, m.start()))
            found.append((label, _line_of(code, m.start()), needed))
    if not found:
        return
    hard = not _CPU_BRANCH.search(code) and not rel.endswith(".ipynb")
    for label, line, in_library in found:
        out.gpu_markers.append(GpuMarker(marker=label, source=rel, line=line,
                                         hard=hard and in_library and label != "torch.cuda"))


def _data(code: str, rel: str, out: CodeFacts) -> None:
    """What this file expects: once per target and file (two prepare.py scripts fetching alike both fetch)."""
    seen = {d.target for d in out.data if d.source == rel}
    for m in _URL.finditer(code):
        if m.group(0) not in seen and len(out.data) < 200:
            out.data.append(DataExpectation(target=m.group(0), kind="download-url", source=rel, line=_line_of(code, m.start())))
            seen.add(m.group(0))
    for m in _LOCAL_DATA.finditer(code):
        if m.group(1) not in seen and len(out.data) < 200:
            out.data.append(DataExpectation(target=m.group(1), kind="local-path", source=rel, line=_line_of(code, m.start())))
            seen.add(m.group(1))
    for pattern, kind in _LOADERS:
        for m in pattern.finditer(code):
            if m.group(1) not in seen and len(out.data) < 200:
                out.data.append(DataExpectation(target=m.group(1), kind=kind, source=rel, line=_line_of(code, m.start())))  # type: ignore[arg-type]
                seen.add(m.group(1))


def local_modules(walk: Walk) -> list[str]:
    """Top-level importable names of the repo itself: packages and modules at the root, under src/, and the
    folders of scripts (scripts import their siblings)."""
    names: set[str] = set()
    for f in walk.files:
        parts = f.rel.split("/")
        if parts[0] == "src" and len(parts) > 1:
            parts = parts[1:]
        if len(parts) == 1 and f.suffix == ".py":
            names.add(parts[0][:-3])
        elif len(parts) >= 2 and (f.name == "__init__.py" or f.suffix == ".py"):
            names.add(parts[0])
            if f.suffix == ".py":
                names.add(parts[-1][:-3])  # a sibling module imported by a script in the same folder
    return sorted(n for n in names if n.isidentifier())
