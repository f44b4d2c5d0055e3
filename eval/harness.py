"""An eval run: every question of a set answered in every arm, scored, and summarised with intervals.

    eval set → (per question) route, retrieve, grade once → each arm's answer → metrics
             → means with bootstrap intervals, paired differences between arms → EvalResults

Adapters are checked first: one trained on a question of the set (or a near
duplicate of it) would score its memory, not its skill, so the run is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.training.dataset import trained_questions
from assistant.core.errors import UserError
from assistant.core.near_duplicates import overlapping_questions
from assistant.runtime import Runtime
from eval.arms import ARMS, Arm, answer_in_arm
from eval.dataset import EvalItem, file_sha256, load_eval_set
from eval.faithfulness import SupportChecker
from eval.judge import Judge
from eval.results import RETRIEVAL, ArmResult, EvalResults, QuestionResult, scores_of
from eval.scoring import ANSWER_METRICS, COST_METRICS, RETRIEVAL_METRICS, cost_scores, score_answer, score_retrieval
from eval.stats import Difference, Estimate, estimate, paired_difference, percentile

# (arm, baseline): what retrieval adds, what the adapter adds with and without retrieval, what retrieval adds to it.
COMPARISONS = [("rag", "base"), ("rag+adapter", "rag"), ("adapter", "base"), ("rag+adapter", "adapter")]
ProgressCallback = Callable[[int, int, str], None]  # questions done, total, the question just done


def parse_arms(spec: str) -> list[Arm]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in ARMS]
    if unknown or not names:
        raise UserError(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; arms: {', '.join(ARMS)}")
    return [ARMS[name] for name in dict.fromkeys(names)]


def check_no_overlap(runtime: Runtime, items: Sequence[tuple[int, EvalItem]], set_path: Path) -> None:
    """Refuse adapters trained on a question of the set, naming the lines."""
    registry = runtime.registry
    questions = [item.question for _, item in items]
    problems = []
    for domain in registry.domains():
        adapter = registry.active(domain)
        if adapter is None:
            continue
        for i, trained in overlapping_questions(questions, trained_questions(adapter)):
            problems.append(f"line {items[i][0]}: {questions[i]!r} ~ {adapter.name} trained on {trained!r}")
    if problems:
        listed = "\n  ".join(problems[:10]) + (f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise UserError(
            f"{set_path}: {len(problems)} question(s) are, or nearly are, questions an adapter was trained on, "
            f"so it cannot be scored on them:\n  {listed}"
        )


def run_eval(
    runtime: Runtime,
    set_path: Path,
    arms: Sequence[Arm],
    *,
    user: str | None = None,
    judge: Judge | None = None,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> EvalResults:
    items = load_eval_set(set_path)[:limit]
    uses_adapters = any(arm.adapter for arm in arms)
    if uses_adapters:
        check_no_overlap(runtime, items, set_path)
    settings = runtime.settings
    checker = SupportChecker(runtime.embedder.embed, settings.eval.lexical_support, settings.eval.embedding_support)
    formats = {domain: hints.answer_format for domain, hints in settings.domains.items() if hints.answer_format}
    visible = runtime.visible_domains(user)
    questions = []
    for done, (line, item) in enumerate(items, start=1):
        found = runtime.retrieve(item.question, user=user)
        domain = found.route.domain
        adapter = runtime.adapter_for("auto", domain, visible) if uses_adapters else None
        answers = {}
        for arm in arms:
            answer = answer_in_arm(runtime, arm, found, adapter)
            scores = score_answer(item, found, arm, answer, checker, formats.get(item.domain or domain or ""))
            if judge is not None and not answer.refused:
                judged = judge.faithfulness(answer.answer, [c.text for c in found.citations], given=arm.retrieval)
                if judged is not None:
                    scores["judge_faithfulness"] = judged
            answers[arm.name] = ArmResult(
                answer=answer.answer,
                adapter=answer.adapter,
                refused=answer.refused,
                scores={**scores, **cost_scores(answer)},
            )
        questions.append(
            QuestionResult(
                line=line,
                question=item.question,
                domain=item.domain,
                answerable=item.answerable,
                reference=item.reference,
                gold_sources=item.gold_sources,
                routed_domain=domain,
                route_confidence=found.route.confidence,
                covered=found.grade.covered,
                best_score=found.grade.best_score,
                retrieved=[c.source for c in found.citations],
                retrieval=score_retrieval(item, found),
                arms=answers,
            )
        )
        if on_progress is not None:
            on_progress(done, len(items), item.question)
    return summarise(runtime, set_path, [arm.name for arm in arms], questions, judge is not None)


def summarise(
    runtime: Runtime, set_path: Path, arms: list[str], questions: list[QuestionResult], judged: bool
) -> EvalResults:
    config = runtime.settings.eval
    resampling = (config.bootstrap_resamples, config.confidence, config.seed)
    answer_metrics = [m for m in ANSWER_METRICS if judged or m != "judge_faithfulness"]
    summary = {RETRIEVAL: _estimates(questions, None, list(RETRIEVAL_METRICS), resampling)}
    summary.update({arm: _estimates(questions, arm, answer_metrics, resampling) for arm in arms})
    domains = sorted({q.domain or q.routed_domain or "(none)" for q in questions})
    by_domain = {
        domain: {
            part: _means(subset, None if part == RETRIEVAL else part, names)
            for part, names in [(RETRIEVAL, list(RETRIEVAL_METRICS)), *((arm, answer_metrics) for arm in arms)]
        }
        for domain in domains
        if (subset := [q for q in questions if (q.domain or q.routed_domain or "(none)") == domain])
    }
    return EvalResults(
        created_at=datetime.now(UTC),
        eval_set=str(set_path),
        eval_set_sha256=file_sha256(set_path),
        arms=arms,
        setup=_setup(runtime, questions, judged),
        metrics={
            name: metric.description
            for name, metric in {**RETRIEVAL_METRICS, **ANSWER_METRICS, **COST_METRICS}.items()
            if judged or name != "judge_faithfulness"
        },
        summary=summary,
        by_domain=by_domain,
        cost={arm: _cost(questions, arm) for arm in arms},
        differences=differences(questions, arms, answer_metrics, resampling),
        questions=questions,
    )


def differences(
    questions: Sequence[QuestionResult],
    arms: Sequence[str],
    metrics: Sequence[str],
    resampling: tuple[int, float, int],
) -> list[Difference]:
    found = []
    for arm, baseline in COMPARISONS:
        if arm not in arms or baseline not in arms:
            continue
        for metric in metrics:
            pairs = [
                (q.line, q.arms[arm].scores[metric], q.arms[baseline].scores[metric])
                for q in questions
                if metric in q.arms[arm].scores and metric in q.arms[baseline].scores
            ]
            if pairs:
                found.append(paired_difference(arm, baseline, metric, pairs, *resampling))
    return found


def _estimates(
    questions: Sequence[QuestionResult], arm: str | None, metrics: Sequence[str], resampling: tuple[int, float, int]
) -> dict[str, Estimate]:
    """Each metric's mean, with its interval, over the questions it applies to."""
    return {m: estimate(values, *resampling) for m in metrics if (values := scores_of(questions, arm, m))}


def _means(questions: Sequence[QuestionResult], arm: str | None, metrics: Sequence[str]) -> dict[str, float]:
    return {m: sum(values) / len(values) for m in metrics if (values := scores_of(questions, arm, m))}


def _cost(questions: Sequence[QuestionResult], arm: str) -> dict[str, float | None]:
    latency = scores_of(questions, arm, "latency_ms")
    return {
        "latency_ms_p50": percentile(latency, 50),
        "latency_ms_p95": percentile(latency, 95),
        "first_token_ms_p50": percentile(scores_of(questions, arm, "first_token_ms"), 50),
        "tokens_per_s_p50": percentile(scores_of(questions, arm, "tokens_per_s"), 50),
    }


def _setup(runtime: Runtime, questions: Sequence[QuestionResult], judged: bool) -> dict[str, Any]:
    settings = runtime.settings
    adapters = sorted({a.adapter for q in questions for a in q.arms.values() if a.adapter})
    return {
        "backend": settings.llm.backend,
        "gguf": str(settings.llm.gguf) if settings.llm.gguf else "offline default (Gemma 3 270M Q4_K_M)",
        "embedding": runtime.embedder.model_id,
        "retrieval": settings.retrieval.model_dump(mode="json"),
        "grading_min_score": settings.grading.min_score,
        "routing_min_confidence": settings.routing.min_confidence,
        "support_thresholds": {"lexical": settings.eval.lexical_support, "embedding": settings.eval.embedding_support},
        "adapters": adapters,
        "judge": judged,
        "bootstrap_resamples": settings.eval.bootstrap_resamples,
        "questions": len(questions),
    }


def record_on_cards(runtime: Runtime, results: EvalResults, results_dir: Path) -> list[str]:
    """Write each adapter's headline figures, on the questions it answered, into its card's ``eval``."""
    config = runtime.settings.eval
    resampling = (config.bootstrap_resamples, config.confidence, config.seed)
    metrics = [m for m in ANSWER_METRICS if m in results.metrics]
    recorded = []
    for name in results.setup["adapters"]:
        answered = [q for q in results.questions if any(a.adapter == name for a in q.arms.values())]
        card_eval = {
            "eval_set": results.eval_set,
            "eval_set_sha256": results.eval_set_sha256,
            "run_at": results.created_at.isoformat(),
            "results": str(results_dir),
            "questions": len(answered),
            "means": {arm: _means(answered, arm, metrics) for arm in results.arms},
            "differences": [
                d.model_dump(exclude={"wins", "losses"})
                for d in differences(answered, results.arms, metrics, resampling)
                if d.arm in ("rag+adapter", "adapter")
            ],
        }
        runtime.registry.save_card(runtime.registry.get(name), eval=card_eval)
        recorded.append(name)
    return recorded
