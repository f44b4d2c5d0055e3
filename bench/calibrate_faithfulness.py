"""Calibrate the judge-free faithfulness check on hand-labelled sentence/passage pairs.

    .venv/bin/python bench/calibrate_faithfulness.py [--labels samples/faithfulness_labels.jsonl]

Each labelled pair is a realistic answer sentence and a corpus passage, marked
supported or not; the unsupported ones are mostly hard negatives (a number,
entity or polarity changed, a claim added) that share most of the passage's
words. A sentence counts as supported when every number it states is in the
passage and its lexical support reaches one threshold or its embedding support
reaches the other (``eval/faithfulness.py``).
The grid search picks the pair with the best balanced accuracy; the same search
on half the labels, scored on the other half (both ways), estimates how well
that choice holds on pairs it was not fitted to. Put the printed thresholds in
``EvalSettings`` (``[eval]`` in config).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from assistant.core.config import load_settings
from eval.faithfulness import SupportChecker, lexical_support, numbers_match
from ingest.embedder import Embedder

REPO = Path(__file__).resolve().parents[1]
OFF = 1.01  # a threshold no score reaches: that signal is not used
LEXICAL_GRID = [*np.round(np.arange(0.3, 1.0001, 0.05), 2), OFF]
EMBEDDING_GRID = [*np.round(np.arange(0.4, 0.98, 0.01), 2), OFF]
Signals = tuple[np.ndarray, np.ndarray, np.ndarray]  # numbers match, lexical support, embedding support


def balanced_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float((predicted[truth].mean() + (~predicted[~truth]).mean()) / 2)


def predict(numbers: np.ndarray, lexical: np.ndarray, embedding: np.ndarray, a: float, b: float) -> np.ndarray:
    return numbers & ((lexical >= a) | (embedding >= b))


def fit(signals: Signals, truth: np.ndarray, grid: list[tuple[float, float]]) -> tuple[float, float, float]:
    scored = [(balanced_accuracy(predict(*signals, a, b), truth), a, b) for a, b in grid]
    return max(scored, key=lambda s: (s[0], s[1], s[2]))  # ties: the stricter thresholds


def rows(signals: Signals, selected: np.ndarray) -> Signals:
    numbers, lexical, embedding = signals
    return numbers[selected], lexical[selected], embedding[selected]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=REPO / "samples/faithfulness_labels.jsonl")
    args = parser.parse_args()
    pairs = [json.loads(line) for line in args.labels.read_text().splitlines() if line.strip()]
    checker = SupportChecker(Embedder.from_settings(load_settings()).embed, OFF, OFF)
    lexical = np.array([lexical_support(p["sentence"], p["passage"]) for p in pairs])
    embedding = np.array([checker.embedding_support(p["sentence"], p["passage"]) for p in pairs])
    numbers = np.array([numbers_match(p["sentence"], p["passage"]) for p in pairs])
    truth = np.array([bool(p["supported"]) for p in pairs])
    signals = (numbers, lexical, embedding)
    both = list(itertools.product(LEXICAL_GRID, EMBEDDING_GRID))
    best = fit(signals, truth, both)
    halves = [np.arange(len(pairs)) % 2 == side for side in (0, 1)]
    held_out = []
    for train, test in (halves, halves[::-1]):
        _, a, b = fit(rows(signals, train), truth[train], both)
        held_out.append(balanced_accuracy(predict(*rows(signals, test), a, b), truth[test]))
    kinds = sorted({p["kind"] for p in pairs})
    chosen = predict(*signals, best[1], best[2])
    report = {
        "pairs": len(pairs),
        "supported": int(truth.sum()),
        "thresholds": {"lexical_support": best[1], "embedding_support": best[2]},
        "balanced_accuracy": round(best[0], 3),
        "balanced_accuracy_held_out_halves": [round(x, 3) for x in held_out],
        "lexical_only": _round(fit(signals, truth, [(a, OFF) for a in LEXICAL_GRID])),
        "embedding_only": _round(fit(signals, truth, [(OFF, b) for b in EMBEDDING_GRID])),
        "without_the_number_rule": _round(fit((np.ones_like(truth), lexical, embedding), truth, both)),
        "accuracy_by_kind": {
            kind: round(float((chosen == truth)[[p["kind"] == kind for p in pairs]].mean()), 3) for kind in kinds
        },
    }
    print(json.dumps(report, indent=1))


def _round(fitted: tuple[float, float, float]) -> dict[str, float]:
    return {"balanced_accuracy": round(fitted[0], 3), "lexical": fitted[1], "embedding": fitted[2]}


if __name__ == "__main__":
    main()
