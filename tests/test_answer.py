"""The graph on the real models: routing from the index alone, retrieval, and cited answers from Gemma."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.core.errors import UserError
from assistant.core.prompts import build_prompt, cited_numbers
from assistant.core.results import Passage
from assistant.runtime import Runtime

from .conftest import sample_questions


@pytest.mark.parametrize("item", sample_questions(), ids=lambda item: str(item["question"])[:40])
def test_routing_and_retrieval_from_the_index_alone(sample_runtime: Runtime, item: dict[str, Any]) -> None:
    result = sample_runtime.retrieve(str(item["question"]))
    assert result.domain == item["domain"], result.route
    assert 0.5 < result.route.confidence <= 1.0 and result.route.reason
    assert {c.source for c in result.citations[:3]} & set(item["gold_sources"])
    assert [c.n for c in result.citations] == list(range(1, sample_runtime.settings.retrieval.k + 1))
    assert all(-1.0 <= c.score <= 1.0 for c in result.citations)  # cosine, whichever retriever found it


def test_explicit_domain_overrides_routing(sample_runtime: Runtime) -> None:
    result = sample_runtime.retrieve("How do I factory reset the router?", domain="policy")
    assert result.domain == "policy" and result.route.reason == "chosen by the caller"
    assert all(c.domain == "policy" for c in result.citations)


def test_unknown_domain_names_the_known_ones(sample_runtime: Runtime) -> None:
    with pytest.raises(UserError, match=r"unknown domain .legal.; known domains: policy, support"):
        sample_runtime.retrieve("anything", domain="legal")


def test_empty_index_says_how_to_fill_it(runtime: Runtime) -> None:
    with pytest.raises(UserError, match="the index is empty"):
        runtime.retrieve("anything")


def test_prompt_numbers_passages_and_fences_them() -> None:
    passages = [
        Passage(chunk_id=str(i), domain="d", source=f"doc{i}.md", title="T", text=f"fact {i}", score=0.5)
        for i in (1, 2)
    ]
    prompt = build_prompt("What?", passages).text
    assert "<passages>\n[1] (doc1.md)\nfact 1\n\n[2] (doc2.md)\nfact 2\n</passages>" in prompt
    assert prompt.endswith("Question: What?\nAnswer:")
    assert cited_numbers("A [2], then [1] and [2] again, not [x].") == [2, 1]


def test_answer_streams_and_cites_the_expected_document(sample_runtime: Runtime) -> None:
    tokens: list[str] = []
    result = sample_runtime.ask("How do I factory reset the router?", on_token=tokens.append)
    assert result.domain == "support" and result.adapter is None
    assert len(tokens) > 5 and "".join(tokens).strip() == result.answer
    assert len(result.answer) > 20
    assert "factory-reset.md" in {c.source for c in result.citations}
    if result.cited:  # only passages the answer cites, each one it was given
        assert {c.n for c in result.citations} <= set(cited_numbers(result.answer))
    for step in ("route", "retrieve", "generate", "first_token", "total"):
        assert result.timings_ms[step] >= 0
    assert result.timings_ms["first_token"] <= result.timings_ms["generate"] <= result.timings_ms["total"]
