"""The batch summary: summary.csv, summary.md (with text charts of outcomes and rungs) and summary.json, all from
batch.json and the run folders' own metadata, so the figures match the run folders."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from ..record.atomic import write_json_atomic, write_text_atomic
from .state import BatchRow, BatchState

COLUMNS = ["key", "repo", "ref", "state", "status", "highest_rung", "attempts", "engine", "engines_tried",
           "job", "seconds", "over_budget", "run_dir", "reason"]


def _from_run_folder(row: BatchRow) -> dict[str, object]:
    """The run folder's own account (status, attempts, rung) where there is one; the batch row otherwise."""
    out: dict[str, object] = {"status": row.status, "highest_rung": row.rung, "attempts": row.attempt}
    if row.run_dir and (Path(row.run_dir) / "metadata.json").is_file():
        from ..record.store import load_run

        try:
            meta = load_run(Path(row.run_dir)).metadata
        except Exception:  # noqa: BLE001 - a damaged folder: the batch row stands
            return out
        out.update(status=meta.status, highest_rung=meta.highest_smoke_rung, attempts=len(meta.attempts))
    return out


def summary_rows(state: BatchState) -> list[dict[str, object]]:
    rows = []
    for row in state.rows:
        facts = _from_run_folder(row)
        rows.append({"key": row.item.key, "repo": row.item.repo, "ref": row.item.ref or "", "state": row.state,
                     "status": facts["status"] or "", "highest_rung": facts["highest_rung"] or "",
                     "attempts": facts["attempts"] if facts["attempts"] is not None else "",
                     "engine": row.engine or "", "engines_tried": " ".join(row.engines_tried), "job": row.job or "",
                     "seconds": row.seconds if row.seconds is not None else "", "over_budget": row.over_budget,
                     "run_dir": row.run_dir or "", "reason": row.reason.replace("\n", " ")[:300]})
    return rows


def bar_chart(counts: Counter[str], width: int = 30) -> list[str]:
    if not counts:
        return ["(none)"]
    top = max(counts.values())
    label = max(len(k) for k in counts)
    return [f"{k.ljust(label)}  {'#' * max(1, round(width * v / top))} {v}" for k, v in counts.most_common()]


def write_summary(state: BatchState, folder: Path) -> dict[str, object]:
    rows = summary_rows(state)
    outcomes = Counter(str(r["status"] or r["state"]) for r in rows)
    rungs = Counter(str(r["highest_rung"] or "none") for r in rows if r["state"] == "done")
    engines = Counter(str(r["engine"]) for r in rows if r["engine"])
    data: dict[str, object] = {"total": len(rows), "outcomes": dict(outcomes), "rungs": dict(rungs),
                               "engines": dict(engines), "rows": rows}
    write_json_atomic(folder / "summary.json", data)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(folder / "summary.csv", buf.getvalue())
    md = [f"# Batch summary ({len(rows)} repositories)", "", "## Outcomes", "", "```", *bar_chart(outcomes), "```",
          "", "## Highest smoke rung", "", "```", *bar_chart(rungs), "```", "", "## Which engine ran what", "",
          "```", *bar_chart(engines), "```", "", "| repository | status | rung | attempts | engine | seconds |",
          "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r['key']} | {r['status'] or r['state']} | {r['highest_rung'] or '-'} | {r['attempts']} | "
           f"{r['engine'] or '-'} | {r['seconds']} |" for r in rows]
    write_text_atomic(folder / "summary.md", "\n".join(md) + "\n")
    return data
