"""`assistant eval run|compare` end to end: real index, real Gemma, real (random) adapters, real reports."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base_model import BaseModelIdentity
from adapters.registry import TRAINING_QUESTIONS_FILE, DatasetInfo, Registry
from assistant.core.config import load_settings
from assistant.core.prompts import drop_citations
from assistant.runtime import Runtime
from eval.results import RETRIEVAL, ArmResult, EvalResults, QuestionResult
from eval.stats import Estimate
from tests.conftest import SAMPLES, home_sharing, invoke, make_card, run_cli

EVAL_SET: list[dict[str, object]] = [
    {"question": "How do I factory reset the router?", "domain": "support", "gold_sources": ["factory-reset.md"],
     "reference": "Hold the reset button for 10 seconds until the LED blinks amber."},
    {"question": "What does a blinking purple LED mean?", "domain": "support", "gold_sources": ["led-status.html"]},
    {"question": "How long do we keep job applications of rejected candidates?", "domain": "policy",
     "gold_sources": ["data-retention.html"]},
    {"question": "What is the capital of Mongolia?", "domain": "policy", "answerable": False},
]  # fmt: skip


def write_set(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def own_copy(served_home: Path, root: Path) -> Path:
    """The served home's index and models, with adapters of its own whose cards a test may change."""
    home = home_sharing(root / "home", served_home, "models", "index")
    shutil.copytree(served_home / "adapters", home / "adapters")
    return home


@pytest.mark.slow
def test_eval_run_scores_every_arm_and_writes_the_reports(served_home: Path, tmp_path: Path) -> None:
    home = own_copy(served_home, tmp_path)
    (Registry(home / "adapters").get("support@1").path / TRAINING_QUESTIONS_FILE).write_text("[]")
    (Registry(home / "adapters").get("policy@1").path / TRAINING_QUESTIONS_FILE).write_text("[]")
    eval_set = write_set(tmp_path / "eval.jsonl", EVAL_SET)
    out = tmp_path / "out"
    done = invoke(
        "assistant", "eval", "run", "--set", eval_set, "--out", out, "--config", SAMPLES / "config.toml", home=home
    )
    assert done.returncode == 0, done.stderr
    results = EvalResults.model_validate_json((out / "results.json").read_text())
    assert results.arms == ["base", "rag", "rag+adapter", "adapter"]
    assert [q.line for q in results.questions] == [1, 2, 3, 4]

    # The RAG arms are the served path: the same answers `ask` gives without and with the adapter.
    runtime = Runtime(load_settings(home=home))
    for question in results.questions[:3]:
        assert question.routed_domain == question.domain
        assert question.arms["rag+adapter"].adapter == f"{question.domain}@1"
        assert question.arms["adapter"].adapter == f"{question.domain}@1"
        assert question.arms["rag"].adapter is None and question.arms["base"].adapter is None
        for arm, adapter in (("rag", "none"), ("rag+adapter", "auto")):
            served = runtime.ask(question.question, adapter=adapter)
            raw = question.arms[arm].answer

            def retrieved(n: int, given: int = len(question.retrieved)) -> bool:
                return 1 <= n <= given

            assert drop_citations(raw, retrieved)[0] == served.answer
        assert question.arms["rag"].answer != question.arms["rag+adapter"].answer  # the adapters are strong
        assert question.retrieval["hit_at_k"] == 1.0  # the sample questions' gold pages are found

    unanswerable = results.questions[3]
    assert not unanswerable.covered
    for arm in ("rag", "rag+adapter"):
        assert unanswerable.arms[arm].refused and unanswerable.arms[arm].scores["refusal_correctness"] == 1.0
        assert "faithfulness" not in unanswerable.arms[arm].scores  # nothing was claimed
    assert "hit_at_k" not in unanswerable.retrieval

    assert results.summary[RETRIEVAL]["routing_accuracy"].mean == 1.0
    first = results.questions[0]
    assert {"token_f1", "rouge_l", "embedding_similarity"} <= set(first.arms["rag"].scores)
    assert "token_f1" not in results.questions[1].arms["rag"].scores  # no reference given
    assert "format_compliance" in first.arms["rag+adapter"].scores  # samples/config.toml sets the formats
    compared = {(d.arm, d.baseline) for d in results.differences}
    assert compared == {("rag", "base"), ("rag+adapter", "rag"), ("adapter", "base"), ("rag+adapter", "adapter")}

    markdown = (out / "report.md").read_text()
    assert "## Paired differences" in markdown and "## Where the adapter made things worse" in markdown
    assert all(f"**{name}**" in markdown for name in results.metrics)  # every metric explained
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "<script" not in page and "http" not in page.split("<body>")[0]  # self-contained

    # The registry link: each adapter's card carries its figures on the questions it answered.
    card_eval = Registry(home / "adapters").get("support@1").card.eval
    assert card_eval is not None and card_eval["questions"] == 2
    assert card_eval["eval_set_sha256"] == results.eval_set_sha256
    assert {d["arm"] for d in card_eval["differences"]} == {"rag+adapter", "adapter"}


def register_trained_on(home: Path, domain: str, questions: list[str] | None, data: Path | None = None) -> None:
    """An adapter entry that says what it was trained on; no weights, since the check never loads them."""
    registry = Registry(home / "adapters")
    built = registry.new_build_dir(domain)
    if questions is not None:
        (built / TRAINING_QUESTIONS_FILE).write_text(json.dumps(questions))
    info = DatasetInfo(path=str(data or "/nowhere/train.jsonl"), sha256="-", examples=1, train=1, held_out=0)
    registry.register(built, make_card(domain, BaseModelIdentity("base", "-"), dataset=info))


def test_an_adapter_trained_on_eval_questions_is_refused_naming_the_lines(home: Path, tmp_path: Path) -> None:
    eval_set = write_set(tmp_path / "eval.jsonl", EVAL_SET)
    register_trained_on(home, "support", ["How can I reset my router to factory settings?", "Unrelated question?"])
    register_trained_on(home, "policy", ["How long are job applications of rejected candidates kept?"])
    done = invoke("assistant", "eval", "run", "--set", eval_set, "--out", tmp_path / "out", home=home)
    assert done.returncode == 2
    assert "2 question(s)" in done.stderr
    assert "line 1: 'How do I factory reset the router?' ~ support@1 trained on" in done.stderr
    assert "line 3:" in done.stderr and "policy@1" in done.stderr and "line 2:" not in done.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


def test_an_adapter_whose_training_data_is_unknown_is_refused(home: Path, tmp_path: Path) -> None:
    register_trained_on(home, "support", None)
    eval_set = write_set(tmp_path / "eval.jsonl", EVAL_SET)
    done = invoke("assistant", "eval", "run", "--set", eval_set, home=home)
    assert done.returncode == 2
    assert "cannot check what support@1 was trained on: its training data /nowhere/train.jsonl is gone" in done.stderr


def results_with(
    faithfulness: float, token_f1: float, sha: str = "abc", per_question: dict[int, float] | None = None
) -> EvalResults:
    def mean(value: float) -> Estimate:
        return Estimate(mean=value, low=value - 0.1, high=value + 0.1, n=100)

    return EvalResults(
        created_at=datetime.now(UTC),
        eval_set="set.jsonl",
        eval_set_sha256=sha,
        arms=["rag+adapter"],
        setup={},
        metrics={},
        summary={"rag+adapter": {"faithfulness": mean(faithfulness), "token_f1": mean(token_f1)}},
        by_domain={},
        cost={},
        differences=[],
        questions=[question_scored(line, value) for line, value in (per_question or {}).items()],
    )


def question_scored(line: int, faithfulness: float) -> QuestionResult:
    return QuestionResult(
        line=line,
        question=f"question {line}?",
        domain="support",
        answerable=True,
        reference=None,
        gold_sources=[],
        routed_domain="support",
        route_confidence=1.0,
        covered=True,
        best_score=0.5,
        retrieved=[],
        retrieval={},
        arms={
            "rag+adapter": ArmResult(
                answer="", adapter="support@1", refused=False, scores={"faithfulness": faithfulness}
            )
        },
    )


def test_compare_pairs_the_runs_question_by_question(tmp_path: Path) -> None:
    """Each question gains 0.1 while the means hardly move apart from their spread: the paired difference
    sees it; a question only one run scored is left out."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(results_with(0.5, 0.4, per_question={1: 0.1, 2: 0.5, 3: 0.9, 4: 0.3, 9: 1.0}).model_dump_json())
    new.write_text(results_with(0.6, 0.4, per_question={1: 0.2, 2: 0.6, 3: 1.0, 4: 0.4, 5: 0.0}).model_dump_json())
    shown = run_cli("assistant", "eval", "compare", old, new, "--json", home=tmp_path).json()
    paired = next(c["paired"] for c in shown["changes"] if c["metric"] == "faithfulness")
    assert (round(paired["diff"], 3), round(paired["low"], 3), round(paired["high"], 3)) == (0.1, 0.1, 0.1)
    assert paired["n"] == 4 and paired["wins"] == [1, 2, 3, 4]
    assert next(c["paired"] for c in shown["changes"] if c["metric"] == "token_f1") is None
    table = run_cli("assistant", "eval", "compare", old, new, home=tmp_path, env={"COLUMNS": "200"}).stdout
    assert "+0.100 [+0.100, +0.100]" in table


def test_compare_fails_on_a_regression_beyond_the_threshold(tmp_path: Path) -> None:
    old, new, other = tmp_path / "old.json", tmp_path / "new", tmp_path / "other.json"
    old.write_text(results_with(0.80, 0.40).model_dump_json())
    new.mkdir()
    (new / "results.json").write_text(results_with(0.75, 0.45).model_dump_json())  # a folder works too

    failed = run_cli("assistant", "eval", "compare", old, new, "--json", home=tmp_path)
    assert failed.returncode == 1
    verdict = failed.json()
    assert not verdict["passed"]
    assert [(r["metric"], round(r["delta"], 3)) for r in verdict["regressions"]] == [("faithfulness", -0.05)]

    assert run_cli("assistant", "eval", "compare", old, new, "--threshold", "0.06", home=tmp_path).returncode == 0
    assert run_cli("assistant", "eval", "compare", old, new, "-m", "token_f1", home=tmp_path).returncode == 0
    shown = run_cli("assistant", "eval", "compare", old, new, home=tmp_path)
    assert "1 regression(s) beyond 0.02" in shown.stderr

    other.write_text(results_with(0.80, 0.40, sha="def").model_dump_json())
    mismatch = run_cli("assistant", "eval", "compare", old, other, home=tmp_path)
    assert mismatch.returncode == 2 and "different eval sets" in mismatch.stderr
    missing = run_cli("assistant", "eval", "compare", old, tmp_path / "nothing", home=tmp_path)
    assert missing.returncode == 2 and "no eval results at" in missing.stderr
