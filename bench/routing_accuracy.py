"""Routing accuracy on the sample domains: the index alone, then with per-domain hints.

    .venv/bin/python bench/routing_accuracy.py --home DIR

DIR must hold the sample corpus (``make demo`` builds one). The questions are
the sample eval questions and every training question with sources (the domain
they belong to is known). Routing is ``auto`` as served; a question counts as
routed right when the chosen domain is its own, and as unrouted when no domain
was clear (every domain searched, no adapter). The hints are written here, not
taken from either question set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from assistant.core.config import load_settings
from assistant.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HINTS = {
    "support": {
        "description": "Help pages for the Nimbus N300 mesh Wi-Fi router and its app: setup, LEDs, firmware, "
        "guest network, parental controls, port forwarding, troubleshooting.",
        "examples": ["My internet connection keeps dropping", "How do I change the Wi-Fi password?"],
    },
    "policy": {
        "description": "Company policies for employees: expenses and travel, gifts, leave, remote work, "
        "acceptable use of IT, data retention.",
        "examples": ["Am I allowed to expense a taxi?", "What is the rule for working abroad?"],
    },
}


def labelled() -> list[tuple[str, str]]:
    items = [(e["question"], e["domain"]) for e in map(json.loads, (SAMPLES / "questions.jsonl").open())]
    for path in sorted((SAMPLES / "training").glob("*.jsonl")):
        items += [(e["question"], path.stem) for e in map(json.loads, path.open()) if e.get("sources")]
    return items


def measure(runtime: Runtime, items: list[tuple[str, str]]) -> dict[str, Any]:
    routes = [(runtime.retrieve(question).domain, domain) for question, domain in items]
    right = sum(chosen == domain for chosen, domain in routes)
    unrouted = sum(chosen is None for chosen, _ in routes)
    return {
        "accuracy": round(right / len(routes), 3),
        "unrouted": round(unrouted / len(routes), 3),
        "wrong_domain": round((len(routes) - right - unrouted) / len(routes), 3),
        "per_domain": {
            d: round(sum(c == d for c, g in routes if g == d) / sum(g == d for _, g in routes), 3)
            for d in sorted({g for _, g in routes})
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    args = parser.parse_args()
    items = labelled()
    report = {
        "questions": len(items),
        "index_only": measure(Runtime(load_settings(home=args.home)), items),
        "with_hints": measure(Runtime(load_settings(home=args.home, domains=HINTS)), items),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
