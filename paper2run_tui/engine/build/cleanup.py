"""Find and remove what paper2run-tui made, by label: containers first, then images; and what a failed build left
without a label (the classic builder's intermediate images and step containers), by the ids the run recorded."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class CleanupReport(BaseModel):
    containers: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    dry_run: bool = False
    errors: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"{verb} {len(self.containers)} container(s) and {len(self.images)} image(s)"]
        lines += [f"  container {c}" for c in self.containers] + [f"  image {i}" for i in self.images]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def cleanup(client: Any, run_id: str | None = None, dry_run: bool = False, *,
            run_ids: list[str] | None = None, leftovers: list[str] | None = None) -> CleanupReport:
    """Remove what paper2run-tui made: by default only what carries one of `run_ids` (the runs of one runs folder)
    or `run_id`; with neither, every managed image on the engine (other people's included: callers ask first).
    `leftovers`: ids of a failed build's untagged intermediate images and step containers (they carry no label),
    removed too, but only when nothing else uses them."""
    wanted = set(run_ids or []) | ({run_id} if run_id else set())
    everything = run_id is None and run_ids is None
    report = CleanupReport(dry_run=dry_run)
    api = client.api  # list summaries, not objects: the SDK inspects each one, which races with other users
    only = run_id if run_id and not run_ids else None
    for summary in api.containers(all=True, filters={"label": [_one_label(only)]}):
        if not _ours(summary, wanted, everything):
            continue
        name = (summary.get("Names") or [summary["Id"][:12]])[0].lstrip("/")
        report.containers.append(name)
        if not dry_run:
            try:
                api.remove_container(summary["Id"], force=True)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"{name}: {exc}")
    for summary in api.images(filters={"label": [_one_label(only)]}):
        if not _ours(summary, wanted, everything):
            continue
        tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
        name = tags[0] if tags else summary["Id"].split(":")[-1][:12]
        report.images.append(name)
        if not dry_run:
            try:
                api.remove_image(summary["Id"], force=True)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"{name}: {exc}")
    for ref in reversed(leftovers or []):
        _remove_leftover(client, ref, report, dry_run)
    return report


MANAGED_LABEL = "org.paper2run.managed=true"
#: A leftover layer still used by a step container the engine is removing is tried this many times, 1 s apart.
LEFTOVER_TRIES = 10
RUN_LABEL = "org.paper2run.run"


def _one_label(run_id: str | None) -> str:
    """The one label filter sent to the engine. Docker ANDs several label filters, Podman's API (4.3) does not
    (it matched none with two), so the engine gets one and the rest is checked here (`_ours`)."""
    return f"{RUN_LABEL}={run_id}" if run_id else MANAGED_LABEL


def _ours(summary: dict[str, Any], wanted: set[str], everything: bool) -> bool:
    labels = summary.get("Labels") or {}
    if labels.get("org.paper2run.managed") != "true":
        return False
    return everything or labels.get(RUN_LABEL) in wanted


def _remove_leftover(client: Any, ref: str, report: CleanupReport, dry_run: bool) -> None:
    """An intermediate of a failed build: its step container if it is still there, else its untagged image
    (never forced, so a layer another image is built on stays; never its parents, which may be others')."""
    import docker

    try:
        container = client.containers.get(ref)
    except docker.errors.NotFound:
        container = None
    except Exception:  # noqa: BLE001 - the engine refused: not ours to insist
        return
    if container is not None:
        report.containers.append(container.name)
        if not dry_run:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        return
    try:
        image = client.images.get(ref)
    except Exception:  # noqa: BLE001 - gone already
        return
    if image.tags:
        return  # a tagged image is someone's result
    report.images.append(image.short_id)
    if dry_run:
        return
    for _ in range(LEFTOVER_TRIES):
        try:
            # noprune: a plain removal takes the untagged parents along, and a parent can be another build's layer
            # this one took from the cache; ours are in the list themselves, removed newest first.
            client.images.remove(image.id, noprune=True)
            return
        except Exception as exc:  # noqa: BLE001 - still a parent of another image: it is a cache layer, kept
            # A stopped build's step container can still be on its way out (the engine removes it): wait for it.
            if "container" not in str(exc):
                break
            time.sleep(1.0)
    report.images.pop()


def run_leftovers(run_dir: Path) -> list[str]:
    """The build leftovers a run folder recorded (attempts/NN/build_leftovers.txt), oldest first."""
    out: list[str] = []
    for path in sorted(run_dir.glob("attempts/*/build_leftovers.txt")):
        with contextlib.suppress(OSError):
            out += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return out


def remove_run_containers(client: Any, run_id: str) -> list[str]:
    """Remove the containers a run left on the engine (a smoke container outlives a lost connection to the
    engine); its images stay, they are the run's result or its cache. Returns the names removed."""
    removed = []
    for summary in client.api.containers(all=True, filters={"label": [_one_label(run_id)]}):
        if not _ours(summary, {run_id}, False):
            continue
        try:
            client.api.remove_container(summary["Id"], force=True)
            removed.append((summary.get("Names") or [summary["Id"][:12]])[0].lstrip("/"))
        except Exception:  # noqa: BLE001 - gone already, or the engine refuses: the report of the run says so
            continue
    return removed
