"""Errors a person can act on: one line saying what is wrong and what to do."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or environment. Clients print `str(err)` as one line, never a traceback."""

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}{' — ' + fix if fix else ''}")


class PreflightError(UserError):
    """The Docker engine (or something the build needs before it starts) is not usable."""


class UnsupportedRepo(UserError):
    """The repository is of a kind we cannot build yet (e.g. not Python)."""


class EngineLost(UserError):
    """The connection to the Docker engine broke during a build or a smoke run: nothing it reported can be trusted
    as a result, so the attempt is neither a success nor a failure of the plan."""

    #: Set when it happened mid-build: the ids of the step containers and layers the build had made (cleanup's).
    build_leftovers: tuple[str, ...] = ()
