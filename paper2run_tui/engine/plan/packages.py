"""Knowledge about packages: import names to distributions, and the Debian packages a distribution needs."""

from __future__ import annotations

from packaging.utils import canonicalize_name

#: Import name -> PyPI distribution, where they differ (or where the usual choice is not obvious).
IMPORT_TO_DIST: dict[str, str] = {
    "cv2": "opencv-python-headless", "sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "Pillow",
    "yaml": "PyYAML", "bs4": "beautifulsoup4", "Crypto": "pycryptodome", "dateutil": "python-dateutil",
    "dotenv": "python-dotenv", "git": "GitPython", "google.protobuf": "protobuf", "tensorboardX": "tensorboardX",
    "torch": "torch", "torchvision": "torchvision", "torchaudio": "torchaudio", "tf": "tensorflow",
    "jwt": "PyJWT", "magic": "python-magic", "serial": "pyserial", "usb": "pyusb", "zmq": "pyzmq",
    "attr": "attrs", "OpenGL": "PyOpenGL", "Levenshtein": "python-Levenshtein", "fitz": "PyMuPDF",
    "docx": "python-docx", "pptx": "python-pptx", "sentencepiece": "sentencepiece", "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary", "lxml": "lxml", "gym": "gym", "mpl_toolkits": "matplotlib",
    "pkg_resources": "setuptools", "setuptools": "setuptools", "wandb": "wandb", "hydra": "hydra-core",
    "omegaconf": "omegaconf", "einops": "einops", "timm": "timm", "transformers": "transformers",
    "tokenizers": "tokenizers", "datasets": "datasets", "sentence_transformers": "sentence-transformers",
    "faiss": "faiss-cpu", "igraph": "python-igraph", "community": "python-louvain", "Bio": "biopython",
    "nltk": "nltk", "spacy": "spacy", "gensim": "gensim", "networkx": "networkx", "tqdm": "tqdm",
    "h5py": "h5py", "scipy": "scipy", "numpy": "numpy", "pandas": "pandas", "matplotlib": "matplotlib",
    "seaborn": "seaborn", "plotly": "plotly", "jax": "jax", "flax": "flax", "optax": "optax", "haiku": "dm-haiku",
    "tensorflow": "tensorflow", "keras": "keras", "imageio": "imageio", "tifffile": "tifffile", "numba": "numba",
    "pytorch_lightning": "pytorch-lightning", "lightning": "lightning", "absl": "absl-py", "termcolor": "termcolor",
    "tabulate": "tabulate", "regex": "regex", "requests": "requests", "visdom": "visdom", "dgl": "dgl",
    "torch_geometric": "torch-geometric", "ogb": "ogb", "jieba": "jieba", "editdistance": "editdistance",
    "pycocotools": "pycocotools", "simplejson": "simplejson", "ujson": "ujson", "msgpack": "msgpack",
    "sympy": "sympy", "statsmodels": "statsmodels", "xgboost": "xgboost", "lightgbm": "lightgbm",
    "catboost": "catboost", "joblib": "joblib", "click": "click", "fire": "fire", "typer": "typer",
    "gradio": "gradio", "streamlit": "streamlit", "flask": "Flask", "fastapi": "fastapi", "uvicorn": "uvicorn",
    "pydantic": "pydantic", "IPython": "ipython", "ipywidgets": "ipywidgets", "graphviz": "graphviz",
    "pydot": "pydot", "tensorboard": "tensorboard", "sacremoses": "sacremoses", "sacrebleu": "sacrebleu",
    "spacy_lookups_data": "spacy-lookups-data", "torchtext": "torchtext", "torchdiffeq": "torchdiffeq",
    "mujoco_py": "mujoco-py", "pygame": "pygame", "kornia": "kornia", "albumentations": "albumentations",
    "accelerate": "accelerate", "diffusers": "diffusers", "safetensors": "safetensors", "huggingface_hub": "huggingface-hub",
}
#: Imports that are never installable distributions (Python 2 leftovers, platform modules, typos of stdlib).
NOT_DISTRIBUTIONS = {"__main__", "builtins", "win32api", "win32con", "_winreg", "google", "distutils", "imp"}

#: Distribution -> Debian packages its wheels or builds need at run or build time.
SYSTEM_NEEDS: dict[str, list[str]] = {
    "opencv-python": ["libgl1", "libglib2.0-0"],
    "opencv-contrib-python": ["libgl1", "libglib2.0-0"],
    "opencv-python-headless": ["libglib2.0-0"],
    "psycopg2": ["libpq-dev", "build-essential"],
    "mysqlclient": ["default-libmysqlclient-dev", "pkg-config", "build-essential"],
    "pycocotools": ["build-essential"],
    "pyaudio": ["portaudio19-dev", "build-essential"],
    "python-magic": ["libmagic1"],
    "pygraphviz": ["graphviz", "libgraphviz-dev", "build-essential"],
    "graphviz": ["graphviz"],
    "pydot": ["graphviz"],
    "soundfile": ["libsndfile1"],
    "librosa": ["libsndfile1", "ffmpeg"],
    "torchaudio": ["libsndfile1"],
    "moviepy": ["ffmpeg"],
    "ffmpeg-python": ["ffmpeg"],
    "imageio-ffmpeg": ["ffmpeg"],
    "dlib": ["cmake", "build-essential"],
    "lxml": ["libxml2", "libxslt1.1"],
    "h5py": ["libhdf5-dev"],
    "tables": ["libhdf5-dev"],
    "gym": ["libgl1"],
    "pygame": ["libsdl2-2.0-0"],
    "mpi4py": ["libopenmpi-dev", "build-essential"],
    "pyopengl": ["libgl1", "libglu1-mesa"],
}
#: Distributions that ship only sources (or whose old pins do): a compiler is needed.
COMPILED = {"pycocotools", "cython_bbox", "pyaudio", "dlib", "mpi4py", "nmslib", "annoy", "hdbscan", "fasttext",
            "editdistance", "python-levenshtein", "pygraphviz", "mysqlclient", "psycopg2", "cchardet", "lap",
            "wordcloud", "pesq", "pystoi"}
TORCH_FAMILY = {"torch", "torchvision", "torchaudio", "pytorch"}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def dist_for_import(module: str) -> str | None:
    if module in NOT_DISTRIBUTIONS or module.startswith("_"):
        return None
    return IMPORT_TO_DIST.get(module, module)


def system_packages_for(dist_names: list[str]) -> list[tuple[str, str]]:
    """[(debian package, why)] for the given distributions."""
    out: list[tuple[str, str]] = []
    for name in dist_names:
        key = canonicalize_name(name)
        for pkg in SYSTEM_NEEDS.get(key, []):
            if pkg not in [p for p, _ in out]:
                out.append((pkg, f"{name} needs {pkg}"))
        if key in COMPILED and "build-essential" not in [p for p, _ in out]:
            out.append(("build-essential", f"{name} compiles C code at install"))
    return out
