"""Check the judge-free key-facts metrics against hand-labelled answers.

    .venv/bin/python bench/calibrate_key_facts.py [--labels samples/key_facts_labels.jsonl] [--split dev|test|all]

Each "facts" line is a reference, an answer, and every key fact of the reference as a person listed
it, marked stated or not by the answer (paraphrases count: "ten seconds" states "10 seconds"). Each
"ids" line is an answer naming clause ids, its passages, and whether each id is in a passage it cites.
Reports, as JSON:

- extraction: the share of the hand-listed facts the metric finds in the reference (recall), and
  the share of the metric's facts that a person listed (precision);
- agreement on each hand-listed fact the metric finds: stated or not, as accuracy and balanced accuracy;
- per answer: the mean absolute difference between ``key_facts`` and the hand-labelled share;
- ``cited_ids``: agreement with the label of each named id.

A hash of the answer puts each line in ``dev`` or ``test``: change the lexicon (``eval/key_facts.toml``)
or the rules looking at ``dev``'s disagreements only (``--show``), and report ``test``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from eval.key_facts import CLAUSE_ID, Fact, cited_ids, facts, key_facts, stated_in

REPO = Path(__file__).resolve().parents[1]


def split_of(line: dict[str, Any]) -> str:
    return "dev" if hashlib.sha256(line["answer"].encode()).digest()[0] < 128 else "test"


def hand_fact(text: str) -> Fact | None:
    """A hand-listed fact as the metric represents it ("no" is a verdict, "€45" a number with its unit)."""
    if text.lower() in {"yes", "no", "conditional"}:
        return Fact("verdict", text.lower())
    found = facts(text, verdict_from_first_words=False)
    return min(found) if len(found) == 1 else None


def balanced_accuracy(pairs: list[tuple[bool, bool]]) -> float | None:
    positives = [p for p, truth in pairs if truth]
    negatives = [not p for p, truth in pairs if not truth]
    if not positives or not negatives:
        return None
    return round((sum(positives) / len(positives) + sum(negatives) / len(negatives)) / 2, 3)


def score_facts(lines: list[dict[str, Any]], show: bool) -> dict[str, Any]:
    listed = found = extracted = confirmed = 0
    decisions: list[tuple[bool, bool]] = []
    errors = []
    for line in lines:
        reference_facts = facts(line["reference"])
        hand = [(hand_fact(f["fact"]), bool(f["stated"])) for f in line["facts"]]
        listed += len(hand)
        matched = [(fact, stated) for fact, stated in hand if fact is not None and fact in reference_facts]
        found += len(matched)
        extracted += len(reference_facts)
        confirmed += len(reference_facts & {fact for fact, _ in hand})
        answer_facts = facts(line["answer"])
        for fact, stated in matched:
            decisions.append((stated_in(fact, answer_facts), stated))
            if show and decisions[-1][0] != stated:
                print(f"DISAGREE {fact} labelled {stated}: {line['answer']!r}")
        if show:
            for (hand_listed, _), raw in zip(hand, line["facts"], strict=True):
                if hand_listed is None or hand_listed not in reference_facts:
                    found_here = sorted(map(str, reference_facts))
                    print(f"NOT FOUND {raw['fact']!r} in {line['reference']!r} (metric: {found_here})")
        truth = sum(stated for _, stated in hand) / len(hand) if hand else None
        metric = key_facts(line["answer"], line["reference"])
        if truth is not None:
            errors.append(abs((metric or 0.0) - truth))
    return {
        "answers": len(lines),
        "facts_listed": listed,
        "extraction_recall": round(found / listed, 3),
        "extraction_precision": round(confirmed / extracted, 3) if extracted else None,
        "stated_accuracy": round(sum(p == t for p, t in decisions) / len(decisions), 3),
        "stated_balanced_accuracy": balanced_accuracy(decisions),
        "per_answer_mean_absolute_error": round(sum(errors) / len(errors), 3),
    }


def score_ids(lines: list[dict[str, Any]], show: bool) -> dict[str, Any]:
    decisions = []
    for line in lines:
        for labelled in line["ids"]:

            def this_id_only(match: re.Match[str], named: str = labelled["id"]) -> str:
                return match[0] if match[0] == named else ""

            only_this = re.sub(CLAUSE_ID, this_id_only, line["answer"])  # the answer naming this id alone
            decision = cited_ids(only_this, line["passages"]) == 1.0
            decisions.append((decision, bool(labelled["in_cited_passage"])))
            if show and decision != labelled["in_cited_passage"]:
                print(f"IDS DISAGREE {labelled}: {line['answer']!r}")
    return {
        "ids_labelled": len(decisions),
        "accuracy": round(sum(p == t for p, t in decisions) / len(decisions), 3),
        "balanced_accuracy": balanced_accuracy(decisions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=REPO / "samples" / "key_facts_labels.jsonl")
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--show", action="store_true", help="print the disagreements (use on dev only)")
    args = parser.parse_args()
    lines = [json.loads(text) for text in args.labels.read_text(encoding="utf-8").splitlines() if text.strip()]
    chosen = [line for line in lines if args.split in ("all", split_of(line))]
    report = {
        "split": args.split,
        "key_facts": score_facts([x for x in chosen if x["kind"] == "facts"], args.show),
        "cited_ids": score_ids([x for x in chosen if x["kind"] == "ids"], args.show),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
