"""Ingest throughput, re-ingest cost, retrieval latency and retrieval quality on a real corpus, in one run.

    apt-get install postfix-doc
    .venv/bin/python bench/ingest_retrieval.py \\
        --corpus /usr/share/doc/postfix/html --questions bench/questions/postfix.jsonl

(PostgreSQL's, git's and Python's manuals are kept for independent checks: no bench here tunes on them.)

Every figure is a ratio against a baseline measured in the same run, so it
travels between machines:
- ingest chunks/s end to end ÷ a bare encode of the same chunk texts by the same embedder (goal ≥ 0.9);
- re-ingest of the unchanged corpus ÷ the first ingest (goal ≤ 5 %);
- warm retrieval latency p50/p95, hybrid and vector-only (goal p95 < 50 ms), and the first query of a new process;
- hit@5 and MRR@10 of hybrid against vector-only on questions with their gold pages.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.core.config import RetrievalSettings, load_settings
from assistant.retrieval import retrieve_passages
from assistant.runtime import Runtime

DOMAIN = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="Folder of documents (e.g. Postfix's).")
    parser.add_argument("--questions", type=Path, required=True, help="JSONL: question, gold_sources.")
    parser.add_argument("--home", type=Path, help="Data home; default: a temporary one.")
    parser.add_argument("--repeats", type=int, default=5, help="Passes over the questions for latency.")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    runtime = Runtime(load_settings(home=home))
    runtime.embedder.embed(["warm up"])  # model load is not part of either throughput figure

    started = time.perf_counter()
    summary = runtime.ingest([args.corpus], DOMAIN)
    ingest_s = time.perf_counter() - started
    ids, texts, _ = runtime.index.chunks(DOMAIN)
    started = time.perf_counter()
    runtime.embedder.embed(texts)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    again = runtime.ingest([args.corpus], DOMAIN)
    reingest_s = time.perf_counter() - started
    assert again.chunks_added == 0 and again.files_unchanged == summary.files_added

    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    settings = runtime.settings.retrieval
    modes = {"hybrid": settings, "vector": settings.model_copy(update={"mode": "vector"})}
    report = {
        "corpus": {"files": summary.files_added, "failed": len(summary.files_failed), "chunks": len(ids)},
        "ingest": {
            "seconds": round(ingest_s, 1),
            "chunks_per_s": round(len(ids) / ingest_s, 1),
            "bare_encode_seconds": round(encode_s, 1),
            "bare_encode_chunks_per_s": round(len(ids) / encode_s, 1),
            "ratio_to_bare_encode": round(encode_s / ingest_s, 3),
        },
        "reingest_unchanged": {
            "seconds": round(reingest_s, 2),
            "ratio_to_first_ingest": round(reingest_s / ingest_s, 4),
        },
        "latency_warm_ms": {m: _latency(runtime, questions, s, args.repeats) for m, s in modes.items()},
        "first_query_new_process": _cold_query(home, questions[0]["question"]),
        "quality": {m: _quality(runtime, questions, s) for m, s in modes.items()},
    }
    print(json.dumps(report, indent=2))


def _latency(runtime: Runtime, questions: list[dict], settings: RetrievalSettings, repeats: int) -> dict[str, float]:
    timings = []
    for _ in range(repeats):
        for item in questions:
            runtime.embedder.embed_query.cache_clear()  # every query pays for its embedding
            started = time.perf_counter()
            retrieve_passages(runtime.index, runtime.lexical, item["question"], DOMAIN, settings)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "queries": len(timings),
        "p50": round(statistics.median(timings), 1),
        "p95": round(timings[int(0.95 * (len(timings) - 1))], 1),
    }


def _cold_query(home: Path, question: str) -> dict[str, float]:
    """`assistant retrieve` in a new process: wall time, and the retrieval steps it reports itself."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "retrieve", question, "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall_s = time.perf_counter() - started
    timings = json.loads(done.stdout)["timings_ms"]
    return {"wall_s": round(wall_s, 2), "route_ms": timings["route"], "retrieve_ms": timings["retrieve"]}


def _quality(runtime: Runtime, questions: list[dict], settings: RetrievalSettings) -> dict[str, float]:
    deep = settings.model_copy(update={"k": 10})
    hits, reciprocal_ranks = 0, []
    for item in questions:
        sources = [p.source for p in retrieve_passages(runtime.index, runtime.lexical, item["question"], DOMAIN, deep)]
        gold = {Path(g).name for g in item["gold_sources"]}
        rank = next((n for n, source in enumerate(sources, start=1) if Path(source).name in gold), None)
        hits += rank is not None and rank <= 5
        reciprocal_ranks.append(1 / rank if rank else 0.0)
    return {
        "questions": len(questions),
        "hit_at_5": round(hits / len(questions), 3),
        "mrr_at_10": round(statistics.mean(reciprocal_ranks), 3),
    }


if __name__ == "__main__":
    main()
