"""Acquire: bring the repository (and the paper, if any) into the run folder.

- spec.py             what --repo means (GitHub URL, any git URL, local folder) -> RepoSource
- repo.py             acquire_repo: shallow clone by branch/tag/SHA, or a filtered copy of a local folder
- git_ops.py          git as a child process: live progress, cancel, errors a person can act on
- copy_tree.py        the filtered, read-only, symlink-safe copy
- paper.py            load_paper (.pdf, .md, arXiv) and the repo-markdown fallback -> PaperInfo
- arxiv.py            arXiv ids/URLs and the cached download
- paper_structure.py  title, authors, abstract and numbered sections from the text
"""
