"""Find and remove what paper2run-tui made, by label: containers first, then images."""

from __future__ import annotations

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


def cleanup(client: Any, run_id: str | None = None, dry_run: bool = False) -> CleanupReport:
    labels = ["org.paper2run.managed=true"] + ([f"org.paper2run.run={run_id}"] if run_id else [])
    report = CleanupReport(dry_run=dry_run)
    for container in client.containers.list(all=True, filters={"label": labels}):
        report.containers.append(container.name)
        if not dry_run:
            try:
                container.remove(force=True)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"{container.name}: {exc}")
    for image in client.images.list(filters={"label": labels}):
        name = image.tags[0] if image.tags else image.short_id
        report.images.append(name)
        if not dry_run:
            try:
                client.images.remove(image.id, force=True)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"{name}: {exc}")
    return report


def remove_run_containers(client: Any, run_id: str) -> list[str]:
    """Remove the containers a run left on the engine (a smoke container outlives a lost connection to the
    engine); its images stay, they are the run's result or its cache. Returns the names removed."""
    labels = ["org.paper2run.managed=true", f"org.paper2run.run={run_id}"]
    removed = []
    for container in client.containers.list(all=True, filters={"label": labels}):
        try:
            container.remove(force=True)
            removed.append(container.name)
        except Exception:  # noqa: BLE001 - gone already, or the engine refuses: the report of the run says so
            continue
    return removed
