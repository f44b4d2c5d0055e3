"""One object per process that owns the loaded models, shared by the CLIs and the UI.

Everything is loaded on first use and kept: the embedding model, the index,
the generator. ``assistant retrieve`` therefore never loads the LLM, and a
batch of questions loads each model once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from adapters.registry import Registry
from assistant.backends import Backend, create_backend
from assistant.config import Settings
from assistant.errors import UserError
from assistant.graph import AnswerState, build_graph
from assistant.results import AnswerResult, Citation, Passage, RetrieveResult
from assistant.retrieval import retrieve_passages
from ingest.embedder import Embedder
from ingest.lexical import LexicalIndex
from ingest.manifest import Manifest
from ingest.pipeline import IngestSummary, ProgressCallback, ingest_paths
from ingest.store import Index

TokenCallback = Callable[[str], None]


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder.from_settings(self.settings)

    @cached_property
    def index(self) -> Index:
        url = self.settings.index.chroma_url
        return Index(self.settings.index_dir / "chroma", self.embedder, str(url) if url else None)

    @cached_property
    def lexical(self) -> LexicalIndex:
        return LexicalIndex(self.settings.index_dir / "bm25")

    @cached_property
    def manifest(self) -> Manifest:
        return Manifest(self.settings.index_dir / "manifest.sqlite")

    @cached_property
    def backend(self) -> Backend:
        return create_backend(self.settings)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.settings.adapters_dir)

    def adapter_for(self, requested: str, domain: str) -> str | None:
        """``auto``: the domain's active adapter if it has one; ``none``: the base; else the one named."""
        if requested == "none":
            return None
        if requested == "auto":
            adapter = self.registry.active(domain)
            if adapter is None:
                return None
        else:
            adapter = self.registry.get(requested)
        self.backend.load_adapter(adapter)
        return adapter.name

    @cached_property
    def graph(self) -> CompiledStateGraph[AnswerState, Any, AnswerState, AnswerState]:
        return build_graph(self)

    def ingest(
        self, paths: Sequence[Path], domain: str, *, prune: bool = False, on_progress: ProgressCallback | None = None
    ) -> IngestSummary:
        return ingest_paths(
            paths,
            domain,
            index=self.index,
            manifest=self.manifest,
            lexical=self.lexical,
            settings=self.settings,
            prune=prune,
            on_progress=on_progress,
        )

    def retrieve(self, question: str, domain: str = "auto", sources: list[str] | None = None) -> RetrieveResult:
        inputs: AnswerState = {"question": question, "requested_domain": domain, "sources": sources, "generate": False}
        state = self._run(inputs)
        citations = [Citation(n=n, **p.model_dump()) for n, p in enumerate(state["passages"], start=1)]
        return RetrieveResult(citations=citations, **_route_fields(question, state))

    def retriever(self, domain: str) -> Callable[[str, int, list[str] | None], list[Passage]]:
        """Retrieval exactly as served (hybrid, MMR, reranker as configured) with a caller-chosen count:
        ``retrieve(question, k, sources)``. Adapter training builds its examples with it."""
        if domain not in self.index.domains():
            raise UserError(f"domain '{domain}' has no documents: ingest them first (`ingest PATH --domain {domain}`)")

        def retrieve(question: str, k: int, sources: list[str] | None) -> list[Passage]:
            settings = self.settings.retrieval.model_copy(update={"k": k})
            return retrieve_passages(self.index, self.lexical, question, domain, settings, sources)

        return retrieve

    def ask(
        self,
        question: str,
        domain: str = "auto",
        sources: list[str] | None = None,
        on_token: TokenCallback | None = None,
        adapter: str = "auto",
    ) -> AnswerResult:
        inputs: AnswerState = {
            "question": question,
            "requested_domain": domain,
            "requested_adapter": adapter,
            "sources": sources,
        }
        state = self._run(inputs, on_token)
        return AnswerResult(
            adapter=state["adapter"],
            answer=state["answer"],
            citations=state["citations"],
            cited=state["cited"],
            **_route_fields(question, state),
        )

    def _run(self, inputs: AnswerState, on_token: TokenCallback | None = None) -> AnswerState:
        started = time.perf_counter()
        final: AnswerState = self.graph.invoke(inputs, config={"configurable": {"on_token": on_token}})  # type: ignore[assignment]
        total_ms = round((time.perf_counter() - started) * 1000, 1)
        final["timings_ms"] = {**final["timings_ms"], "total": total_ms}
        return final


def _route_fields(question: str, state: AnswerState) -> dict[str, Any]:
    """What every result says about how the question was handled."""
    route = state["route"]
    return {"question": question, "domain": route.domain, "route": route, "timings_ms": state["timings_ms"]}
