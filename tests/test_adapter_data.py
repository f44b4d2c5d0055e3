"""Training data for adapters: validation, leakage, the split, and RAFT assembly on the real sample index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.training.dataset import TrainingExample, TrainingSet, load_training_set
from adapters.training.raft import RaftExample, assemble
from assistant.core.errors import UserError
from assistant.core.near_duplicates import overlapping_questions
from assistant.core.prompts import INSTRUCTIONS, Prompt, build_prompt, cited_numbers
from assistant.core.results import Passage
from assistant.runtime import Runtime
from eval.dataset import load_eval_set
from tests.conftest import SAMPLE_DOMAINS, SAMPLES


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def load(path: Path, domain: str = "support", eval_questions: list[str] | None = None) -> TrainingSet:
    return load_training_set(path, domain, held_out_fraction=0.2, seed=0, eval_questions=eval_questions or [])


def good(n: int) -> list[dict[str, object]]:
    return [{"question": f"Question number {i}?", "answer": f"Answer {i} [1].", "sources": ["a.md"]} for i in range(n)]


def test_bad_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    rows: list[object] = [
        *good(5),
        {"question": "No answer here?"},
        "{not json",
        {"question": "Cites too far?", "answer": "See [2].", "sources": ["a.md"]},
        {"question": "Extra?", "answer": "x", "colour": "blue"},
        {"messages": [{"role": "assistant", "content": "reply first"}, {"role": "user", "content": "?"}]},
    ]
    with pytest.raises(UserError) as err:
        load(write_jsonl(tmp_path / "train.jsonl", rows))
    message = str(err.value)
    assert "5 bad lines" in message
    assert "line 6: missing 'answer'" in message
    assert "line 7: not JSON" in message
    assert "line 8: answer cites [2] but 'sources' lists 1 document(s)" in message
    assert "line 9: unknown field 'colour'" in message
    assert "line 10:" in message and "one user turn then one assistant turn" in message


def test_chat_messages_become_question_and_answer() -> None:
    example = TrainingExample.model_validate(
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Can I?"},
                {"role": "assistant", "content": "Verdict: No [1]."},
            ],
            "sources": ["p.md"],
        }
    )
    assert (example.question, example.answer, example.sources) == ("Can I?", "Verdict: No [1].", ["p.md"])


def test_examples_of_another_domain_are_refused(tmp_path: Path) -> None:
    rows = [*good(5), {"question": "q?", "answer": "a", "domain": "policy"}]
    with pytest.raises(UserError, match=r"1 example\(s\) belong to another domain than 'support' \(line 6: 'policy'"):
        load(write_jsonl(tmp_path / "train.jsonl", rows))


def test_eval_questions_and_their_rewordings_are_refused_by_line(tmp_path: Path) -> None:
    rows = [
        *good(5),
        {"question": "How do I factory reset the router?", "answer": "a"},
        {"question": "how do i factory-reset the router", "answer": "b"},
        {"question": "How do I factory reset my router quickly?", "answer": "c"},
        {"question": "How do I set up port forwarding?", "answer": "d"},
    ]
    with pytest.raises(UserError) as err:
        load(write_jsonl(tmp_path / "train.jsonl", rows), eval_questions=["How do I factory reset the router?"])
    message = str(err.value)
    assert "3 question(s)" in message
    assert "line 6:" in message and "line 7:" in message and "line 8:" in message
    assert "line 9:" not in message


def test_paraphrases_stay_on_one_side_of_the_split(tmp_path: Path) -> None:
    rows = [
        {
            "question": f"Rewording {i} of intent {intent}?",
            "answer": f"Answer to intent {intent} [1].",
            "sources": ["a"],
        }
        for intent in range(10)
        for i in range(3)
    ]
    data = load(write_jsonl(tmp_path / "train.jsonl", rows))
    train_answers = {e.answer for e in data.train}
    held_answers = {e.answer for e in data.held_out}
    assert held_answers and train_answers and not train_answers & held_answers
    assert data.size == 30
    again = load(write_jsonl(tmp_path / "again.jsonl", rows))
    assert again.held_out == data.held_out
    assert again.sha256 == data.sha256


def test_without_refusals_keeps_every_grounded_example_on_its_side_of_the_split() -> None:
    data = load(SAMPLES / "training" / "support.jsonl")
    grounded = data.without_refusals()
    assert grounded.train == [e for e in data.train if e.sources]
    assert grounded.held_out == [e for e in data.held_out if e.sources]
    assert grounded.size < data.size  # the sample set has refusals, and they are gone
    assert grounded.sha256 == data.sha256  # the card still names the file trained from


@pytest.mark.parametrize("domain", SAMPLE_DOMAINS)
def test_sample_training_sets_are_valid_large_and_disjoint_from_the_eval_set(domain: str) -> None:
    eval_questions = [item.question for _, item in load_eval_set(SAMPLES / "questions.jsonl")]
    data = load_training_set(
        SAMPLES / "training" / f"{domain}.jsonl", domain, held_out_fraction=0.1, seed=0, eval_questions=eval_questions
    )
    assert data.size >= 200
    corpus = {p.name for p in (SAMPLES / "corpus" / domain).iterdir()}
    assert {s for e in data.train + data.held_out for s in e.sources} <= corpus
    assert overlapping_questions([e.question for e in data.train], eval_questions) == []


def raw_length(example: RaftExample) -> int:
    return len(example.text)


def served_sources(prompt: Prompt) -> list[str]:
    blocks = prompt.request.split("<passages>\n")[1].split("\n</passages>")[0].split("\n\n[")
    return [block.split("(", 1)[1].split(")", 1)[0] for block in blocks]


def test_raft_example_is_the_served_prompt_in_served_order(sample_runtime: Runtime) -> None:
    example = TrainingExample(
        question="How do I factory reset the unit with the pinhole?",
        answer="Hold the reset pinhole for 10 seconds [1].",
        sources=["factory-reset.md"],
    )
    retrieve = sample_runtime.retriever("support")
    raft = assemble(example, retrieve, passages=5, max_tokens=4096, count_tokens=raw_length)
    served = retrieve(example.question, 5, None)
    assert raft.prompt == build_prompt(example.question, served), "the very prompt `ask` serves, same order"
    assert raft.prompt.text.startswith(INSTRUCTIONS) and raft.prompt.text.endswith("Answer:")
    [cited] = cited_numbers(raft.answer)
    assert served[cited - 1].source == "factory-reset.md", "the citation follows the gold passage"
    assert raft.answer.startswith("Hold the reset pinhole")


def test_raft_ranks_a_gold_passage_retrieval_missed_by_its_score(sample_runtime: Runtime) -> None:
    real = sample_runtime.retriever("support")
    gold_source = "factory-reset.md"

    def missing_gold(question: str, k: int, sources: list[str] | None) -> list[Passage]:
        """The real retrieval, except that the unfiltered search never finds the gold document."""
        if sources:
            return real(question, k, sources)
        return [p for p in real(question, k + 5, None) if p.source != gold_source][:k]

    example = TrainingExample(
        question="How do I factory reset the unit?", answer="Hold reset for 10 seconds [1].", sources=[gold_source]
    )
    raft = assemble(example, missing_gold, passages=4, max_tokens=4096, count_tokens=raw_length)
    sources = served_sources(raft.prompt)
    others = missing_gold(example.question, 4, None)
    [gold] = real(example.question, 1, [gold_source])
    [cited] = cited_numbers(raft.answer)
    assert len(sources) == 4 and sources[cited - 1] == gold_source and sources.count(gold_source) == 1
    assert cited == 1 + sum(p.score >= gold.score for p in others[:3]), "where its score ranks it"
    assert [s for s in sources if s != gold_source] == [p.source for p in others[:3]], "the lowest-ranked made room"


def test_raft_refusal_is_the_served_prompt_without_citations(sample_runtime: Runtime) -> None:
    example = TrainingExample(question="Is the N300 waterproof?", answer="The help pages don't cover this.")
    retrieve = sample_runtime.retriever("support")
    raft = assemble(example, retrieve, passages=5, max_tokens=4096, count_tokens=raw_length)
    assert raft.prompt == build_prompt(example.question, retrieve(example.question, 5, None))
    assert cited_numbers(raft.answer) == []


def test_raft_drops_the_lowest_ranked_passages_never_the_answer_to_fit(sample_runtime: Runtime) -> None:
    example = TrainingExample(
        question="How long do I hold reset?", answer="10 seconds [1].", sources=["factory-reset.md"]
    )
    retrieve = sample_runtime.retriever("support")
    full = assemble(example, retrieve, passages=5, max_tokens=100_000, count_tokens=raw_length)
    gold_only = assemble(example, retrieve, passages=1, max_tokens=100_000, count_tokens=raw_length)
    budget = len(gold_only.text) + 10
    fitted = assemble(example, retrieve, passages=5, max_tokens=budget, count_tokens=raw_length)
    assert len(fitted.text) <= budget < len(full.text)
    assert "factory-reset.md" in fitted.prompt.request and cited_numbers(fitted.answer) != []
    kept = served_sources(fitted.prompt)
    assert kept == [s for s in served_sources(full.prompt) if s in kept][: len(kept)], "the served order, cut short"
    with pytest.raises(UserError, match=r"raise training\.max_seq_tokens"):
        assemble(example, retrieve, passages=5, max_tokens=len(gold_only.text) - 1, count_tokens=raw_length)


def test_raft_refuses_a_source_the_domain_does_not_have(sample_runtime: Runtime) -> None:
    example = TrainingExample(question="Reset?", answer="Yes [1].", sources=["no-such-page.md"])
    with pytest.raises(UserError, match=r"'no-such-page\.md', which is not a document of the domain"):
        assemble(example, sample_runtime.retriever("support"), passages=3, max_tokens=4096, count_tokens=raw_length)
