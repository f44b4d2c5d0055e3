"""Training data for adapters: validation, leakage, the split, and RAFT assembly on the real sample index."""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import pytest

from adapters.dataset import TrainingExample, TrainingSet, load_training_set, overlapping_questions
from adapters.raft import assemble
from assistant.errors import UserError
from assistant.prompts import INSTRUCTIONS, build_prompt, cited_numbers
from assistant.runtime import Runtime
from eval.dataset import load_eval_set
from tests.conftest import SAMPLE_DOMAINS, SAMPLES


def write_jsonl(path: Path, rows: list[object]) -> Path:
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


def test_raft_example_is_the_served_prompt_with_gold_among_distractors(sample_runtime: Runtime) -> None:
    example = TrainingExample(
        question="Which button do I hold to start over with a clean unit?",
        answer="Hold the reset pinhole for 10 seconds [1].",
        sources=["factory-reset.md"],
    )
    retrieve = sample_runtime.retriever("support")
    positions = set()
    for seed in range(6):
        raft = assemble(example, retrieve, passages=4, seed=seed, max_tokens=4096, count_tokens=len)
        assert raft.prompt.startswith(INSTRUCTIONS) and raft.prompt.endswith("Answer:")
        blocks = raft.prompt.split("<passages>\n")[1].split("\n</passages>")[0].split("\n\n[")
        sources = [block.split("(", 1)[1].split(")", 1)[0] for block in blocks]
        assert len(sources) == 4
        assert sources.count("factory-reset.md") == 1, "distractors come from other documents"
        [cited] = cited_numbers(raft.completion)
        assert sources[cited - 1] == "factory-reset.md", "the citation follows the gold passage"
        assert raft.completion.startswith(" Hold the reset pinhole")
        positions.add(cited)
    assert len(positions) > 1, "the gold passage is not always first"


def test_raft_prompt_is_built_by_the_inference_template(sample_runtime: Runtime) -> None:
    example = TrainingExample(question="Is the N300 waterproof?", answer="The help pages don't cover this.")
    retrieve = sample_runtime.retriever("support")
    raft = assemble(example, retrieve, passages=3, seed=0, max_tokens=4096, count_tokens=len)
    retrieved = retrieve(example.question, 9, None)[:3]
    # the served prompt over the same passages, in the example's seeded order
    assert raft.prompt in {build_prompt(example.question, list(order)) for order in permutations(retrieved)}
    assert cited_numbers(raft.completion) == []


def test_raft_drops_distractors_never_the_answer_to_fit(sample_runtime: Runtime) -> None:
    example = TrainingExample(
        question="How long do I hold reset?", answer="10 seconds [1].", sources=["factory-reset.md"]
    )
    retrieve = sample_runtime.retriever("support")
    full = assemble(example, retrieve, passages=5, seed=0, max_tokens=100_000, count_tokens=len)
    gold_only = assemble(example, retrieve, passages=1, seed=0, max_tokens=100_000, count_tokens=len)
    budget = len(gold_only.text) + 10
    fitted = assemble(example, retrieve, passages=5, seed=0, max_tokens=budget, count_tokens=len)
    assert len(fitted.text) <= budget < len(full.text)
    assert fitted.completion == " 10 seconds [1]." and "factory-reset.md" in fitted.prompt
    with pytest.raises(UserError, match=r"raise training\.max_seq_tokens"):
        assemble(example, retrieve, passages=5, seed=0, max_tokens=len(gold_only.text) - 1, count_tokens=len)


def test_raft_refuses_a_source_the_domain_does_not_have(sample_runtime: Runtime) -> None:
    example = TrainingExample(question="Reset?", answer="Yes [1].", sources=["no-such-page.md"])
    with pytest.raises(UserError, match=r"'no-such-page\.md', which is not a document of the domain"):
        assemble(example, sample_runtime.retriever("support"), passages=3, seed=0, max_tokens=4096, count_tokens=len)
