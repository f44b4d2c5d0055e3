"""Serving adapters per request on the real llama.cpp model: concurrency, and access control over adapters."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.base_model import BaseCheckpoint
from adapters.training.export import export_adapter
from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime

from .conftest import home_sharing, register_random_adapter, sample_questions

ADAPTERS = ("support@1", "policy@1", "none")


def test_concurrent_requests_each_run_with_their_own_adapter(served_home: Path) -> None:
    """204 requests from 6 threads, alternating two adapters and none: each output equals the same request
    run alone. A request that ran with another request's adapter, or interleaved tokens, would differ."""
    runtime = Runtime(load_settings(home=served_home, llm={"max_tokens": 8}, retrieval={"k": 1}))
    questions = [(str(q["question"]), str(q["domain"])) for q in sample_questions()[::4]]  # both domains
    combos = [(question, domain, adapter) for question, domain in questions for adapter in ADAPTERS]

    def answer(combo: tuple[str, str, str]) -> tuple[str, str | None]:
        question, domain, adapter = combo
        result = runtime.ask(question, domain, adapter=adapter)
        return result.answer, result.adapter

    alone = {combo: answer(combo) for combo in combos}
    for question, _ in questions:
        outputs = {alone[(q, d, a)][0] for q, d, a in combos if q == question}
        assert len(outputs) > 1, f"the adapters must change the answer to {question!r} for this test to mean much"
    requests = [combos[i % len(combos)] for i in range(204)]
    random.Random(0).shuffle(requests)
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(answer, requests))
    mismatches = [(combo, got) for combo, got in zip(requests, together, strict=True) if got != alone[combo]]
    assert not mismatches, f"{len(mismatches)} of {len(requests)} differ, e.g. {mismatches[0]}"


def test_a_user_never_gets_an_adapter_of_a_domain_they_may_not_see(served_home: Path) -> None:
    access = {"users": {"alice": ["support"]}, "default_user": "alice"}
    # Grading off: the support passages don't cover a gift question, and a refusal would apply no adapter at all.
    settings = load_settings(home=served_home, access=access, llm={"max_tokens": 8}, grading={"min_score": -1.0})
    runtime = Runtime(settings)
    result = runtime.ask("Can I accept a gift card from a supplier?")  # ranks policy first for everyone else
    assert result.domain == "support" and result.adapter == "support@1"
    assert {c.domain for c in result.citations} == {"support"}
    with pytest.raises(UserError, match=r"unknown domain 'policy'; known domains: support"):
        runtime.ask("Can I accept a gift card from a supplier?", adapter="policy@1")
    with pytest.raises(UserError, match=r"unknown domain 'policy'; known domains: support"):
        runtime.ask("Can I accept a gift card from a supplier?", domain="support", adapter="policy@1")


def test_an_explicit_adapter_chooses_its_domain(served_home: Path) -> None:
    settings = load_settings(home=served_home, llm={"max_tokens": 8}, grading={"min_score": -1.0})
    result = Runtime(settings).ask("How do I factory reset the router?", adapter="policy@1")
    assert result.domain == "policy" and result.adapter == "policy@1"
    assert result.route.reason == "the domain of the adapter asked for (policy@1)"


def test_a_merged_domain_is_served_by_its_merged_gguf(
    served_home: Path, tmp_path: Path, hf_base: BaseCheckpoint
) -> None:
    home = home_sharing(tmp_path / "home", served_home, "models", "index")
    settings = load_settings(home=home, llm={"max_tokens": 16, "merged_domains": ["policy"]})
    adapter = register_random_adapter(home, hf_base, "policy", std=0.05, seed=2)
    question = "Can I accept a gift card from a supplier?"
    with pytest.raises(UserError, match=r"policy@1 has no merged GGUF: run `assistant adapters export policy@1 --merg"):
        Runtime(settings).ask(question, adapter="policy@1")
    adapter, _ = export_adapter(settings, adapter, merged="q8_0", check=False, on_notice=lambda _: None)
    Path(adapter.card.exports["lora"]["path"]).unlink()  # only the merged model is left to serve it
    runtime = Runtime(settings)
    merged = runtime.ask(question, adapter="policy@1")
    assert merged.adapter == "policy@1" and merged.answer != runtime.ask(question, adapter="none").answer
    with pytest.raises(UserError, match=r"policy@1 has no GGUF export for llama\.cpp"):
        Runtime(load_settings(home=home)).ask(question, adapter="policy@1")
