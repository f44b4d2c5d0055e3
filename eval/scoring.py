"""What each metric means, and scoring one question: once for its retrieval, once per arm's answer."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.core.results import RetrieveResult
from eval.arms import Arm, ArmAnswer
from eval.dataset import EvalItem
from eval.faithfulness import SupportChecker
from eval.key_facts import cited_ids, key_facts
from eval.metrics import citation_scores, format_compliance, retrieval_scores, rouge_l, token_f1


@dataclass(frozen=True)
class Metric:
    description: str  # the one line the report prints
    higher_is_better: bool = True


RETRIEVAL_METRICS = {
    "routing_accuracy": Metric("the question was routed to its own domain (questions with a domain, answerable)"),
    "hit_at_k": Metric("a gold document is among the k passages retrieved"),
    "mrr": Metric("1 / rank of the first passage from a gold document (0 when none is retrieved)"),
    "recall": Metric("share of the gold documents among the passages retrieved"),
}
ANSWER_METRICS = {
    "citation_validity": Metric("share of [n] markers that name a passage the model was given (answers citing any)"),
    "citation_precision": Metric("share of validly cited passages that come from a gold document"),
    "citation_coverage": Metric("share of answer sentences carrying a valid citation"),
    "faithfulness": Metric(
        "share of checkable answer sentences supported (lexically or by embedding) by the passages they cite,"
        " or by any retrieved passage when uncited; closed-book arms are checked against the retrieved passages"
    ),
    "judge_faithfulness": Metric("the same, judged by the LLM judge (--judge)"),
    "key_facts": Metric(
        "share of the reference's key facts (verdict, numbers with units, dates, clause ids) the answer states"
        " (answerable questions whose reference has any)"
    ),
    "cited_ids": Metric("share of the clause ids an answer names that occur in a passage it cites"),
    "token_f1": Metric("word-overlap F1 with the reference answer (SQuAD normalisation)"),
    "rouge_l": Metric("ROUGE-L F-measure with the reference answer"),
    "embedding_similarity": Metric("cosine between the answer's and the reference's embeddings"),
    "format_compliance": Metric("the generated answer matches its domain's answer_format (domains that set one)"),
    "refusal_correctness": Metric("refused exactly when the question is unanswerable from the documents"),
}
COST_METRICS = {
    "latency_ms": Metric("time to the whole answer, retrieval included (ms)", higher_is_better=False),
    "first_token_ms": Metric("time to the first generated token (ms)", higher_is_better=False),
    "tokens_per_s": Metric("decoding rate after the first token"),
}


def score_retrieval(item: EvalItem, found: RetrieveResult) -> dict[str, float]:
    scores: dict[str, float] = {}
    if item.answerable and item.domain:
        scores["routing_accuracy"] = float(found.route.domain == item.domain)
    if item.gold_sources:
        scores.update(retrieval_scores([c.source for c in found.citations], item.gold_sources))
    return scores


def score_answer(
    item: EvalItem,
    found: RetrieveResult,
    arm: Arm,
    answer: ArmAnswer,
    checker: SupportChecker,
    answer_format: str | None,
) -> dict[str, float]:
    """The answer metrics that apply to this question and answer (see ``ANSWER_METRICS``)."""
    scores = {"refusal_correctness": float(answer.refused != item.answerable)}
    if item.reference:
        scores["token_f1"] = token_f1(answer.answer, item.reference)
        scores["rouge_l"] = rouge_l(answer.answer, item.reference)
        scores["embedding_similarity"] = checker.similarity(answer.answer, item.reference)
        if item.answerable and (facts_stated := key_facts(answer.answer, item.reference)) is not None:
            scores["key_facts"] = facts_stated
    generated = answer.first_token_ms is not None
    if generated and answer_format:
        scores["format_compliance"] = format_compliance(answer.answer, answer_format)
    if generated and not answer.refused:
        given = [c.source for c in found.citations] if arm.retrieval else []
        scores.update(citation_scores(answer.answer, given, item.gold_sources))
        passages = [c.text for c in found.citations]
        if (ids_found := cited_ids(answer.answer, passages if arm.retrieval else [])) is not None:
            scores["cited_ids"] = ids_found
        faithfulness = checker.faithfulness(answer.answer, passages, given=arm.retrieval)
        if faithfulness is not None:
            scores["faithfulness"] = faithfulness
    return scores


def cost_scores(answer: ArmAnswer) -> dict[str, float]:
    values = {"latency_ms": answer.latency_ms, "first_token_ms": answer.first_token_ms}
    values["tokens_per_s"] = answer.tokens_per_s
    return {name: value for name, value in values.items() if value is not None}
