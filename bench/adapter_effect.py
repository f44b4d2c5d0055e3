"""What the sample adapters change: answer format, citing and speed, with and without the adapter.

    .venv/bin/python bench/adapter_effect.py --home DIR   # a data home where scripts/train_sample_adapters.sh ran

Answers every question of ``samples/questions.jsonl`` (none of them trained on)
on its own domain twice in one process, once on the base model and once with
the domain's active adapter, with identical passages, and reports per arm:
the share of answers in the domain's format, the share that cite a passage
given ([n] within range), the share that cite a gold document, the share that
refuse (every question here is answerable), and tokens/s.
A first look ahead of the eval harness, which scores this properly.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
FORMATS = {
    # policy: a verdict line first, the clauses relied on last
    "policy": re.compile(r"^Verdict: .+\n(.|\n)*\nClauses: [^\n]+$"),
    # support: a lead sentence, then numbered steps
    "support": re.compile(r"^[^\n]+\n\n1\. .+", re.DOTALL),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="Data home with the sample adapters trained.")
    args = parser.parse_args()
    runtime = Runtime(load_settings(home=args.home))
    questions = [json.loads(line) for line in (REPO / "samples/questions.jsonl").read_text().splitlines() if line]
    arms: dict[str, list[dict[str, object]]] = {"base": [], "adapter": []}
    for item in questions:
        for arm, adapter in (("base", "none"), ("adapter", "auto")):
            tokens = 0

            def count(_: str) -> None:
                nonlocal tokens
                tokens += 1

            started = time.perf_counter()
            result = runtime.ask(item["question"], item["domain"], adapter=adapter, on_token=count)
            seconds = time.perf_counter() - started - result.timings_ms.get("first_token", 0) / 1000
            # When the answer cites passages it was given, ``citations`` holds exactly those.
            cited_sources = {c.source for c in result.citations} if result.cited else set()
            arms[arm].append(
                {
                    "question": item["question"],
                    "adapter": result.adapter,
                    "answer": result.answer,
                    "format": bool(FORMATS[item["domain"]].match(result.answer)),
                    "cites": result.cited,
                    "cites_gold": bool(cited_sources & set(item["gold_sources"])),
                    "refuses": "don't cover" in result.answer or "Not covered" in result.answer,
                    "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
                }
            )
    summary = {arm: _summary(rows) for arm, rows in arms.items()}
    summary["ratio_tokens_per_s"] = round(summary["adapter"]["tokens_per_s"] / summary["base"]["tokens_per_s"], 3)
    print(json.dumps({"summary": summary, "answers": arms}, indent=1, ensure_ascii=False))


def _summary(rows: list[dict[str, object]]) -> dict[str, float]:
    def share(key: str) -> float:
        return round(sum(bool(r[key]) for r in rows) / len(rows), 3)

    return {
        "questions": len(rows),
        "format": share("format"),
        "cites_a_given_passage": share("cites"),
        "cites_a_gold_document": share("cites_gold"),
        "refuses": share("refuses"),
        "tokens_per_s": round(statistics.median(float(r["tokens_per_s"]) for r in rows), 1),  # type: ignore[arg-type]
    }


if __name__ == "__main__":
    main()
