"""Files a hostile or unlucky repository can hold that the host's file system takes but our records cannot."""

from __future__ import annotations

import os
from pathlib import Path

#: Linux's PATH_MAX, and what a run folder's own prefix adds on top of the repository's path (about).
PATH_MAX = 4096
RUN_FOLDER_PREFIX = 260


def plant_bad_name_and_deep_path(root: Path) -> None:
    """A .py file whose name is not UTF-8, and one so deep that its path fits under the repository but not under
    the run folder's longer prefix."""
    with open(os.path.join(os.fsencode(root), b"bad\xff name.py"), "wb") as fh:
        fh.write(b"import os\n")
    deep = str(root)
    while len(deep) < PATH_MAX - RUN_FOLDER_PREFIX - 10:
        deep = os.path.join(deep, "d" * 200)
        os.mkdir(deep)
    Path(deep, "deep.py").write_text("D = 1\n")
