"""Answer latency on the offline defaults: the whole graph against raw llama-cpp-python, in one run.

    .venv/bin/python bench/answer_latency.py [--questions 50] [--repeats 1] [--home DIR]

Loads everything once and reports, as JSON: load times (imports, embedder,
index, GGUF), then for each question (the sample eval questions, then the
sample training sets' questions, both domains in turn) with 5 passages the time
to first token and total answer time through ``Runtime.ask`` (base model), and
the same prompt through a separate raw ``llama_cpp.Llama`` with the same
settings. Both start each request from an empty KV cache, as the backend does
so that an answer never depends on the request before it. Ratios (graph / raw)
are the figures to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STARTED = time.perf_counter()

from assistant.core.config import load_settings  # noqa: E402  (the import itself is measured)
from assistant.runtime import Runtime  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=50, help="How many sample questions.")
    parser.add_argument("--repeats", type=int, default=1, help="Passes over the questions.")
    parser.add_argument("--home", type=Path, help="Data home; default: a temporary one.")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-home-"))
    imports_s = time.perf_counter() - STARTED

    settings = load_settings(home=home)
    from assistant.core.models import resolve_gguf

    gguf = resolve_gguf(settings)  # assembled once from the PyPI package; not part of the load figures
    runtime = Runtime(settings)
    loads = {"imports_s": imports_s}
    loads["embedder_s"] = _timed(lambda: runtime.embedder)
    loads["index_s"] = _timed(lambda: runtime.index)
    for domain in ("support", "policy"):
        runtime.ingest([REPO / "samples/corpus" / domain], domain)
    loads["llm_s"] = _timed(lambda: runtime.backend)

    from llama_cpp import Llama

    from assistant.core.prompts import STOP_SEQUENCES, build_prompt

    raw = Llama(
        model_path=str(gguf),
        n_ctx=settings.llm.n_ctx,
        n_threads=settings.llm.n_threads or os.cpu_count(),
        seed=settings.llm.seed,
        verbose=False,
    )
    questions = _sample_questions(args.questions)
    graph_runs, raw_runs = [], []
    for _ in range(args.repeats):
        for question in questions:

            def run_graph(emit: Callable[[str], None], question: str = question) -> None:
                runtime.ask(question, on_token=emit, adapter="none")

            graph_runs.append(_measure(run_graph))
            passages = runtime.retrieve(question).citations
            prompt = build_prompt(question, passages).text

            def run_raw(emit: Callable[[str], None], prompt: str = prompt) -> None:
                raw.reset()
                for part in raw.create_completion(
                    prompt,
                    max_tokens=settings.llm.max_tokens,
                    temperature=settings.llm.temperature,
                    seed=settings.llm.seed,
                    stop=STOP_SEQUENCES,
                    stream=True,
                ):
                    # llama-cpp-python's stubs type the result as a response or a stream whatever `stream` is
                    emit(part["choices"][0]["text"])  # type: ignore[index]

            raw_runs.append(_measure(run_raw))
    graph, raw_llama_cpp = _summary(graph_runs), _summary(raw_runs)
    report = {
        "machine": _machine(),
        "settings": {"k": settings.retrieval.k, "n_ctx": settings.llm.n_ctx, "max_tokens": settings.llm.max_tokens},
        "load": {key: round(value, 3) for key, value in loads.items()},
        "graph": graph,
        "raw_llama_cpp": raw_llama_cpp,
        "ratio_graph_to_raw": {
            key: round(graph[key] / raw_llama_cpp[key], 3)
            for key in ("first_token_ms_p50", "total_ms_p50", "tokens_per_s_p50")
        },
    }
    print(json.dumps(report, indent=2))


def _sample_questions(count: int) -> list[str]:
    """The eval questions first, then answerable training questions alternating domains, without repeats."""
    lines = (REPO / "samples/questions.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in lines]
    sets = [
        [e["question"] for e in map(json.loads, path.read_text().splitlines()) if e.get("sources")]
        for path in sorted((REPO / "samples/training").glob("*.jsonl"))
    ]
    for pair in zip(*sets, strict=False):
        questions += [q for q in pair if q not in questions]
    return questions[:count]


def _timed(load: Callable[[], object]) -> float:
    started = time.perf_counter()
    load()
    return time.perf_counter() - started


def _measure(run: Callable[[Callable[[str], None]], None]) -> dict[str, float]:
    """Time to first piece, total time and pieces (≈ tokens) per second of one streamed answer."""
    started = time.perf_counter()
    first: list[float] = []
    pieces: list[str] = []

    def emit(piece: str) -> None:
        if not first:
            first.append(time.perf_counter())
        pieces.append(piece)

    run(emit)
    ended = time.perf_counter()
    generating = ended - (first[0] if first else ended)
    return {
        "first_token_ms": ((first[0] if first else ended) - started) * 1000,
        "total_ms": (ended - started) * 1000,
        "tokens": len(pieces),
        "tokens_per_s": (len(pieces) - 1) / generating if generating > 0 and len(pieces) > 1 else 0.0,
    }


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    summary: dict[str, float] = {"runs": len(runs)}
    for key in ("first_token_ms", "total_ms", "tokens_per_s", "tokens"):
        values = sorted(run[key] for run in runs)
        summary[f"{key}_p50"] = round(statistics.median(values), 1)
        summary[f"{key}_p95"] = round(values[min(len(values) - 1, int(0.95 * len(values)))], 1)
    return summary


def _machine() -> dict[str, object]:
    import platform

    return {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}


if __name__ == "__main__":
    main()
