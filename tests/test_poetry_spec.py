"""Every Poetry constraint form reaches pip as PEP 440 (issue 17: `^4.8.1.78` reached pip as written)."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.analyze.poetry_spec import poetry_to_pep440


@pytest.mark.parametrize(("poetry", "pep440"), [
    ("^4.8.1.78", ">=4.8.1.78,<5"),  # caret on four parts (opencv-python's versions)
    ("^1.2", ">=1.2,<2"), ("^1.2.3", ">=1.2.3,<2"), ("^0.2.3", ">=0.2.3,<0.3"), ("^0.0.3", ">=0.0.3,<0.0.4"),
    ("^0", ">=0,<1"), ("^2.0.0rc1", ">=2.0.0rc1,<3"),
    ("~1.2.3", ">=1.2.3,<1.3"), ("~1", ">=1,<2"), ("~4.8.1.78", ">=4.8.1.78,<4.9"),
    ("1.2.*", "==1.2.*"), ("*", ""), ("", ""),
    ("1.2.3", "==1.2.3"), ("=1.2.3", "==1.2.3"), ("==1.2", "==1.2"), ("1.0b1", "==1.0b1"),
    (">=1.2,<2", ">=1.2,<2"), (">=1.2 <2", ">=1.2,<2"), (">= 1.2, < 2", ">=1.2,<2"),
    ("~=1.4", "~=1.4"), ("!=1.5", "!=1.5"),
    ("^1.2 || ^2.0", ">=2.0,<3"),  # PEP 440 has no "or": the last (newest) alternative
])
def test_each_poetry_form_translates(poetry: str, pep440: str) -> None:
    assert poetry_to_pep440(poetry) == pep440
    SpecifierSet(pep440)  # and pip can read it


def test_a_constraint_that_is_no_version_is_none() -> None:
    assert poetry_to_pep440("garbage") is None and poetry_to_pep440("^x.y") is None


def test_a_poetry_project_with_a_four_part_caret_declares_a_readable_specifier(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"pyproject.toml": '[tool.poetry]\nname = "demo"\nversion = "0.1.0"\n\n'
                                        '[tool.poetry.dependencies]\npython = "^3.9"\nopencv-python = "^4.8.1.78"\n'
                                        'weird = "not a version"\n'})
    deps = {d.name: d.specifier for d in analyze_repo(repo).dependencies}
    assert deps["opencv-python"] == ">=4.8.1.78,<5" and deps["weird"] == ""
