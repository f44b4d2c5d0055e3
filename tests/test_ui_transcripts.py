"""The web app's transcripts and feedback exports: what a reload shows, and rows the loaders accept."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.training.dataset import TrainingExample
from assistant.core.jsonl import read_jsonl
from assistant.core.results import AnswerResult, Citation, Grade, Route
from eval.dataset import EvalItem
from ui.feedback import as_jsonl, eval_item, feedback_record, training_example
from ui.transcripts import Rating, Transcripts


def _citation(n: int, source: str) -> Citation:
    return Citation(n=n, chunk_id=f"c{n}", domain="support", source=source, title=source, text=f"text {n}", score=0.7)


def _result(question: str, answer: str, cited: list[Citation], *, refused: bool = False) -> AnswerResult:
    return AnswerResult(
        question=question,
        domain="support",
        route=Route(domain="support", confidence=0.9, reason="best passages"),
        grade=Grade(covered=not refused, best_score=0.2 if refused else 0.7, threshold=0.32),
        citations=cited,
        timings_ms={"total": 1000.0},
        adapter="support@1",
        answer=answer,
        cited=bool(cited) and not refused,
        refused=refused,
        dropped_citations=0,
    )


def test_a_thread_reads_back_as_answered_with_its_comparison_and_rating(tmp_path: Path) -> None:
    store = Transcripts(tmp_path / "ui.sqlite")
    first = _result("How do I reset?", "Hold the button [1].", [_citation(1, "reset.md")])
    base = first.model_copy(update={"adapter": None, "answer": "Press reset [1]."})
    assert store.add_turn("t1", "alice", first, base) == 0
    assert store.add_turn("t1", "alice", _result("And after?", "Wait [2].", [_citation(2, "led.md")]), None) == 1
    store.add_turn("t2", "bob", first, None)
    store.rate("t1", 1, "down")

    reopened = Transcripts(tmp_path / "ui.sqlite")  # a reload, or another server process
    turns = reopened.turns("t1")
    assert [t.result.question for t in turns] == ["How do I reset?", "And after?"]
    assert turns[0].compared is not None and turns[0].compared.answer == "Press reset [1]."
    assert turns[0].result.citations[0].text == "text 1"
    assert [t.rating for t in turns] == [None, "down"]
    assert [(s.thread, s.title, s.turns) for s in reopened.threads("alice")] == [("t1", "How do I reset?", 2)]
    reopened.rate("t1", 1, None)
    assert reopened.rated() == []


def test_feedback_exports_load_as_training_data_and_eval_sets(tmp_path: Path) -> None:
    store = Transcripts(tmp_path / "ui.sqlite")
    cites_third_and_first = _result(
        "How do I reset?",
        "Hold the button [3]. The LED blinks [1]. Then wait [3].",
        [_citation(1, "led.md"), _citation(3, "reset.md")],
    )
    refusal = _result("Who won the cup?", "The documents do not cover this question.", [], refused=True)
    disliked = _result("Guest wifi?", "It is on [1].", [_citation(1, "guest.md")])
    rated_turns: list[tuple[AnswerResult, Rating]] = [
        (cites_third_and_first, "up"),
        (refusal, "up"),
        (disliked, "down"),
    ]
    for position, (result, rating) in enumerate(rated_turns):
        store.add_turn("t", "alice", result, None)
        store.rate("t", position, rating)
    rated = store.rated("alice")

    training = tmp_path / "training.jsonl"
    training.write_text(as_jsonl(map(training_example, rated)))
    examples = [e for _, e in read_jsonl(training, TrainingExample, "training data")]
    assert len(examples) == 1  # only the liked, grounded answer teaches
    assert examples[0].answer == "Hold the button [1]. The LED blinks [2]. Then wait [1]."
    assert examples[0].sources == ["reset.md", "led.md"]

    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text(as_jsonl(map(eval_item, rated)))
    items = [i for _, i in read_jsonl(eval_set, EvalItem, "eval set")]
    assert items[0].gold_sources == ["led.md", "reset.md"] and items[0].reference == cites_third_and_first.answer
    assert items[1].answerable is False
    assert items[2].reference is None and items[2].gold_sources == []

    records = [json.loads(line) for line in as_jsonl(map(feedback_record, rated)).splitlines()]
    assert [r["rating"] for r in records] == ["up", "up", "down"]
    assert records[2]["sources"][0]["source"] == "guest.md" and records[2]["sources"][0]["text"] == "text 1"


def test_two_tabs_answering_on_one_thread_both_keep_their_turns(tmp_path: Path) -> None:
    """Two sessions may add turns to one thread at the same moment: each gets its own position, none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    store = Transcripts(tmp_path / "ui.sqlite")
    result = _result("How do I reset?", "Hold the button [1].", [_citation(1, "reset.md")])
    with ThreadPoolExecutor(max_workers=4) as pool:
        positions = list(pool.map(lambda _: store.add_turn("shared", "alice", result, None), range(40)))
    assert sorted(positions) == list(range(40))
    assert [turn.position for turn in store.turns("shared")] == list(range(40))
