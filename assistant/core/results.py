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
    domain: str | None = Field(description="None: no domain was clear, so every visible domain was searched.")
    confidence: float
    reason: str


class Grade(BaseModel):
    covered: bool = Field(description="False: no passage is close enough to the question to answer from.")
    best_score: float
    threshold: float


class RetrieveResult(BaseModel):
    question: str
    domain: str | None
    route: Route
    grade: Grade
    citations: list[Citation]
    timings_ms: dict[str, float]


class Usage(BaseModel):
    """Tokens the answer cost, as OpenAI's API reports them: the prompt evaluated, the completion generated."""

    prompt_tokens: int
    completion_tokens: int


class AnswerResult(RetrieveResult):
    adapter: str | None
    answer: str
    cited: bool = Field(description="False when the answer cited nothing and citations are the passages given.")
    refused: bool = Field(description="True when the documents did not cover the question, so nothing was generated.")
    dropped_citations: int = Field(description="[n] markers removed from the answer: they named no passage given.")
    thread: str | None = Field(default=None, description="The conversation this turn belongs to.")
    usage: Usage | None = Field(
        default=None, description="Tokens spent (0 and 0 when nothing was generated); None: the server gave none."
    )
