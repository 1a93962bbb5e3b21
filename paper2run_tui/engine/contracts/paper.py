"""PaperInfo: the parsed paper (or the repository's markdown when no paper was given)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PaperSection(BaseModel):
    number: str = Field(description="'3', '3.2', '3.2.1'; '' for unnumbered front matter")
    title: str
    text: str
    level: int = 1


class PaperEquation(BaseModel):
    number: str = Field(description="The equation's label, e.g. '4'")
    section: str = Field(description="Number of the section it appears in")
    text: str


class PaperTable(BaseModel):
    number: str
    caption: str
    section: str = ""


class Hyperparameter(BaseModel):
    name: str = Field(description="Canonical name, e.g. 'learning_rate', 'batch_size', 'beta2'")
    value: str = Field(description="The value as stated, e.g. '0.98', '4000', '1e-9', 'adam'")
    section: str
    quote: str = Field(description="The sentence it was read from, verbatim")


class PaperInfo(BaseModel):
    source: str = Field(description="The path, URL or arXiv id given, or the repo markdown files used")
    kind: Literal["pdf", "markdown", "arxiv", "repo-markdown", "latex"]
    title: str = ""
    authors: list[str] = Field(default_factory=list)
    abstract: str = ""
    text: str = Field(default="", description="The full extracted text")
    sections: list[PaperSection] = Field(default_factory=list)
    equations: list[PaperEquation] = Field(default_factory=list)
    tables: list[PaperTable] = Field(default_factory=list)
    hyperparameters: list[Hyperparameter] = Field(default_factory=list)
    code_url: str = Field(default="", description="The official code repository the paper names, if any")
    pages: int | None = None
    warnings: list[str] = Field(default_factory=list)
