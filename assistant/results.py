"""The shapes that flow out of the graph and into ``--json`` (see DESIGN.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Passage(BaseModel):
    """One retrieved chunk; ``source`` is the document's name relative to what was ingested."""

    chunk_id: str
    domain: str
    source: str
    title: str
    section: str = ""
    page: int | None = Field(default=None, description="1-based page, for PDFs.")
    text: str
    score: float = Field(description="Cosine similarity to the question, higher is better.")


class Citation(Passage):
    n: int = Field(description="The number the passage had in the prompt, as in [n].")


class Route(BaseModel):
    domain: str
    confidence: float
    reason: str


class RetrieveResult(BaseModel):
    question: str
    domain: str
    route: Route
    citations: list[Citation]
    timings_ms: dict[str, float]


class AnswerResult(RetrieveResult):
    adapter: str | None
    answer: str
    cited: bool = Field(description="False when the answer cited nothing and citations are the passages given.")
