"""Hybrid retrieval: vector and BM25 candidates fused by reciprocal rank, then optional MMR and reranking.

Reciprocal rank fusion (Cormack et al. 2009) needs no score calibration
between the two retrievers: a chunk scores ``1 / (rrf_k + rank)`` in each list
it appears in. Every passage keeps its cosine similarity to the question as
``score``, whichever retriever found it, so that thresholds downstream (grading,
the UI's weak-retrieval warning) mean the same thing in every mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.config import RetrievalSettings
from assistant.core.errors import UserError
from assistant.core.results import Passage
from ingest.lexical import LexicalIndex
from ingest.store import Index, Where


def retrieve_passages(
    index: Index,
    lexical: LexicalIndex,
    question: str,
    domain: str,
    settings: RetrievalSettings,
    sources: Sequence[str] | None = None,
) -> list[Passage]:
    """The ``settings.k`` best passages of ``domain`` for the question, optionally only from ``sources``."""
    query = index.embedder.embed_query(question)
    where: Where | None = {"source": {"$in": list(sources)}} if sources else None
    passages = {p.chunk_id: p for p in index.search(domain, query, settings.candidates, where)}
    ranked = [list(passages)]
    if settings.mode == "hybrid":
        allowed = index.ids_where(domain, where) if where else None
        ranked.append([chunk_id for chunk_id, _ in lexical.search(domain, question, settings.candidates, allowed)])
    order = reciprocal_rank_fusion(ranked, settings.rrf_k)
    if settings.mmr_lambda is not None:
        pool = index.fetch(domain, order, query)  # MMR needs every candidate's vector
        order = [chunk_id for chunk_id in order if chunk_id in pool]  # see below: BM25 may name a deleted chunk
        vectors = np.stack([pool[i][1] for i in order]) if order else np.zeros((0, 0), dtype=np.float32)
        order = [order[i] for i in maximal_marginal_relevance(np.asarray(query), vectors, settings.mmr_lambda)]
        passages.update({chunk_id: passage for chunk_id, (passage, _) in pool.items()})
    if settings.reranker is None and settings.max_per_document is None:
        order = order[: settings.k]
    # Only chunks found by BM25 alone still need fetching (with their vectors, for a cosine score).
    missing = [chunk_id for chunk_id in order if chunk_id not in passages]
    passages.update({chunk_id: passage for chunk_id, (passage, _) in index.fetch(domain, missing, query).items()})
    # A write cut short between deleting old chunks and publishing BM25's new build leaves BM25 naming chunks
    # that are gone (until the next ingest or `ingest verify --repair`): they are passed over, not fatal.
    order = [chunk_id for chunk_id in order if chunk_id in passages]
    if settings.reranker is not None:
        order = _rerank(settings.reranker, question, [passages[i] for i in order])
    if settings.max_per_document is not None:
        order = capped_per_document(order, {i: passages[i].source for i in order}, settings.max_per_document)
    return [passages[chunk_id] for chunk_id in order[: settings.k]]


def capped_per_document(order: Sequence[str], source_of: dict[str, str], cap: int) -> list[str]:
    """The order without the chunks beyond the first ``cap`` of each document: one long page's many
    near-duplicate chunks must not crowd every other document out of the passages."""
    seen: dict[str, int] = {}
    kept = []
    for chunk_id in order:
        source = source_of[chunk_id]
        seen[source] = seen.get(source, 0) + 1
        if seen[source] <= cap:
            kept.append(chunk_id)
    return kept


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], rrf_k: int) -> list[str]:
    """Ids ordered by the sum of ``1 / (rrf_k + rank)`` over the rankings they appear in (rank from 1)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores, key=lambda chunk_id: -scores[chunk_id])


def maximal_marginal_relevance(query: np.ndarray, vectors: np.ndarray, weight: float) -> list[int]:
    """Greedy MMR (Carbonell & Goldstein 1998) over unit vectors: ``weight`` trades relevance for novelty."""
    if len(vectors) == 0:
        return []
    relevance = vectors @ query
    similarity = vectors @ vectors.T
    chosen = [int(np.argmax(relevance))]
    remaining = set(range(len(vectors))) - set(chosen)
    while remaining:
        candidates = sorted(remaining)
        redundancy = similarity[np.ix_(candidates, chosen)].max(axis=1)
        marginal = weight * relevance[candidates] - (1 - weight) * redundancy
        best = candidates[int(np.argmax(marginal))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


def _rerank(model_path: Path, question: str, passages: list[Passage]) -> list[str]:
    scores = _cross_encoder(model_path.expanduser().resolve()).predict([(question, p.text) for p in passages])
    ranked = sorted(zip(scores, passages, strict=True), key=lambda pair: -float(pair[0]))
    return [passage.chunk_id for _, passage in ranked]


@lru_cache(maxsize=2)
def _cross_encoder(path: Path) -> Any:
    """A local sentence-transformers CrossEncoder folder, loaded once per process."""
    if not (path / "config.json").is_file():
        raise UserError(f"retrieval.reranker is not a cross-encoder folder: {path}")
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(path), device="cpu", local_files_only=True)
