"""Repository facts as a tree: each fact with the file it came from."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...engine.contracts import PaperInfo, RepoFacts

#: Rows shown per section; the full list is repo_facts.json in the run folder.
MAX_ROWS = 40


def _where(source: str, line: int | None) -> str:
    return f"  [dim]{source}{':' + str(line) if line else ''}[/dim]"


class FactsPane(Tree[str]):
    """Languages, managers, dependencies, Python hints, GPU markers, smoke candidates."""

    ALLOW_MAXIMIZE = True

    def __init__(self, id: str | None = None) -> None:
        super().__init__("repository facts", id=id)
        self.show_root = False
        self.facts: RepoFacts | None = None
        self.paper: PaperInfo | None = None

    def on_mount(self) -> None:
        self.border_title = "Facts"
        self.root.add_leaf("[dim]waiting for the analysis…[/dim]")

    def show_paper(self, paper: PaperInfo) -> None:
        """The paper arrives before the facts; it is shown at the top of the tree from then on."""
        self.paper = paper
        if self.facts is not None:
            self.show_facts(self.facts)
        else:
            self.clear()
            self._paper_node(self.root)

    def _paper_node(self, root: TreeNode[str]) -> None:
        paper = self.paper
        if paper is None:
            return
        title = paper.title or paper.source
        node = root.add(f"paper: {title}", expand=False)
        node.add_leaf(f"{paper.kind} · {len(paper.sections)} sections · {len(paper.equations)} equations"
                      f"{' · ' + str(paper.pages) + ' pages' if paper.pages else ''}")
        for hp in paper.hyperparameters[:MAX_ROWS]:
            node.add_leaf(f"{hp.name} = {hp.value}  [dim]§{hp.section}[/dim]")

    def show_facts(self, facts: RepoFacts) -> None:
        self.facts = facts
        self.clear()
        root = self.root
        self._paper_node(root)
        head = facts.name + (f" @ {facts.commit[:10]}" if facts.commit else "")
        root.add_leaf(f"[b]{head}[/b]  {facts.files_seen} files{' (truncated)' if facts.truncated else ''}")
        langs = ", ".join(f"{x.language} {x.share:.0%}" for x in facts.languages[:5]) or "no recognised code"
        root.add_leaf(f"languages: {langs}")
        self._section(root, "managers", [f"{m.manager} ({m.kind}){_where(m.source, m.line)}" for m in facts.manifests])
        self._section(
            root, "dependencies",
            [f"{escape(d.name + d.specifier)}{escape(' [' + d.group + ']') if d.group else ''}{_where(d.source, d.line)}"
             for d in facts.dependencies],
        )
        if facts.locked:  # only when there is one: most research repositories have no lock file
            self._section(root, "locked", [f"{p.name}=={p.version}{' (dev)' if p.group else ''}  [dim]{p.source}[/dim]"
                                           for p in facts.locked])
        if facts.readme_versions:
            self._section(root, "readme versions", [f"{d.name}{d.specifier}  [dim]\"{d.raw}\"[/dim]{_where(d.source, d.line)}"
                                                    for d in facts.readme_versions])
        self._section(root, "python", [f"{h.spec} ({h.kind}){_where(h.source, h.line)}" for h in facts.python_hints])
        self._section(
            root, "gpu", [f"{g.marker}{' (hard)' if g.hard else ''}{_where(g.source, g.line)}" for g in facts.gpu_markers]
        )
        self._section(
            root, "smoke candidates",
            [f"{c.command}  [dim]({c.kind}, {c.score})[/dim]{_where(c.source, c.line)}"
             for c in sorted(facts.smoke_candidates, key=lambda c: -c.score)],
        )
        self._section(root, "data", [f"{d.target} ({d.kind}){_where(d.source, d.line)}" for d in facts.data_expectations])
        for warning in facts.warnings:
            root.add_leaf(f"[yellow]! {warning}[/yellow]")

    def _section(self, root: TreeNode[str], title: str, rows: list[str]) -> None:
        node = root.add(f"{title} ({len(rows)})", expand=bool(rows) and len(rows) <= 12)
        for row in rows[:MAX_ROWS]:
            node.add_leaf(row)
        if len(rows) > MAX_ROWS:
            node.add_leaf(f"[dim]… {len(rows) - MAX_ROWS} more in repo_facts.json[/dim]")
        if not rows:
            node.allow_expand = False
