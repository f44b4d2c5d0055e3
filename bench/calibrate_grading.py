"""Calibrate ``grading.min_score``: how close is the best passage for questions the documents answer,
and for questions they don't?

The sample training sets label both kinds: an example with ``sources`` is answered by those documents,
one without is a question the domain's documents do not cover. Each question is retrieved as served
(routed, hybrid retrieval) and the best passage's cosine similarity is recorded.

Two thresholds are printed with the distributions: the one that maximises balanced accuracy (mean of
the recall on each class), and the highest one that still answers 90 % of covered questions. The
default is the second: wrongly refusing a question the documents answer costs the user more than
letting the model see weak passages, since the prompt and the adapters teach it to refuse too.

    .venv/bin/python bench/calibrate_grading.py --home /tmp/sample-home
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from assistant.core.config import load_settings
from assistant.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def labelled_questions() -> list[tuple[str, bool]]:
    """(question, covered) from the sample training sets; paraphrases of one answer count once."""
    seen_answers: set[str] = set()
    labelled = []
    for path in sorted((SAMPLES / "training").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            example = json.loads(line)
            covered = bool(example.get("sources"))
            key = example["answer"] if covered else example["question"]
            if key not in seen_answers:
                seen_answers.add(key)
                labelled.append((example["question"], covered))
    return labelled


def balanced_accuracy(covered: list[float], not_covered: list[float], threshold: float) -> float:
    kept = sum(s >= threshold for s in covered) / len(covered)
    refused = sum(s < threshold for s in not_covered) / len(not_covered)
    return (kept + refused) / 2


def keeping(covered: list[float], share: float) -> float:
    """The highest threshold that keeps ``share`` of covered questions (rounded down to 0.01)."""
    return int(sorted(covered)[int(len(covered) * (1 - share))] * 100) / 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="A data home with the sample corpus ingested.")
    args = parser.parse_args()
    runtime = Runtime(load_settings(home=args.home))
    scores: dict[bool, list[float]] = {True: [], False: []}
    for question, covered in labelled_questions():
        passages = runtime.retrieve(question).citations
        scores[covered].append(max((p.score for p in passages), default=-1.0))
    candidates = sorted(set(scores[True] + scores[False]))
    best = max(candidates, key=lambda t: balanced_accuracy(scores[True], scores[False], t))
    configured = runtime.settings.grading.min_score
    keep_90 = keeping(scores[True], 0.9)
    report = {
        "questions": {"covered": len(scores[True]), "not_covered": len(scores[False])},
        "best_score_quantiles": {
            ("covered" if label else "not_covered"): [round(q, 3) for q in statistics.quantiles(values, n=10)]
            for label, values in scores.items()
        },
        "best_threshold": round(best, 3),
        "balanced_accuracy_at_best": round(balanced_accuracy(scores[True], scores[False], best), 3),
        "threshold_answering_90pct_covered": keep_90,
        "not_covered_refused_at_it": round(sum(s < keep_90 for s in scores[False]) / len(scores[False]), 3),
        "configured_threshold": configured,
        "balanced_accuracy_at_configured": round(balanced_accuracy(scores[True], scores[False], configured), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
