"""What serving adapters per request costs on llama.cpp, in one run on one machine.

    .venv/bin/python bench/adapter_serving.py --home DIR [--requests 24]

DIR must hold the sample corpus and at least two domains with exported adapters
(``make adapters``, or any ``assistant adapters export``). Reports, as JSON:

- switch cost: applying another adapter to the loaded model in-process (the
  backend's hot-swap, KV reset included) against loading the model again with
  llama-cpp-python's ``lora_path``, which is how its high-level API changes adapters;
- throughput with an adapter: decoding tokens/s, prompt time and end-to-end
  tokens/s of the same prompts with each adapter, as ratios to the base model
  (each ratio > 1 is faster; a LoRA adds work to both prompt and decoding);
- alternating adapters: requests cycling base and adapters, as a ratio to all
  requests on one adapter.

Prompts are the served ones (retrieved passages, the shared template). Every
request generates exactly ``max_tokens`` tokens (no stop sequences), so tokens/s
compares equal work.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from adapters.registry import Registry
from assistant.backends.llamacpp import LlamaCppBackend
from assistant.core.config import load_settings
from assistant.core.models import resolve_gguf
from assistant.core.prompts import Prompt, build_prompt
from assistant.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=24, help="Requests per throughput arm.")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    settings = load_settings(home=args.home)
    runtime = Runtime(settings)
    registry = Registry(settings.adapters_dir)
    adapters = [a for d in registry.domains() if (a := registry.active(d)) is not None and "lora" in a.card.exports]
    if len(adapters) < 2:
        raise SystemExit(f"{args.home} needs exported adapters in two domains; it has {[a.name for a in adapters]}")
    backend = runtime.backend
    assert isinstance(backend, LlamaCppBackend)
    load_ms = {a.name: _ms(functools.partial(backend.load_adapter, a)) for a in adapters}
    names: list[str | None] = [a.name for a in adapters]

    questions = [json.loads(line)["question"] for line in (SAMPLES / "questions.jsonl").read_text().splitlines()]
    prompts = [build_prompt(q, runtime.retrieve(q).citations) for q in questions]
    requests = [prompts[i % len(prompts)] for i in range(args.requests)]

    llm = backend._llm
    end_of_generation = {llm.token_eos(), *llm.tokenize(b"<end_of_turn>", add_bos=False, special=True)}
    never_stop = {token: -100.0 for token in end_of_generation}

    def generate(prompt: Prompt, adapter: str | None) -> tuple[float, float, int]:
        """Prompt seconds, decoding seconds and tokens of one request on the backend's own request path
        (apply the adapter, reset the KV cache), without stop sequences."""
        with backend._lock:
            backend._apply(adapter)
            llm.reset()
            started = time.perf_counter()
            stream = llm.create_completion(
                backend.prompt_tokens(prompt),
                max_tokens=args.max_tokens,
                temperature=0.0,
                logit_bias=never_stop,
                stream=True,
            )
            first = next(iter(stream))
            prompt_s = time.perf_counter() - started
            tokens = 1 + sum(1 for _ in stream)
        assert first is not None
        return prompt_s, time.perf_counter() - started - prompt_s, tokens

    def throughput(plan: list[str | None]) -> dict[str, float]:
        runs = [generate(prompt, adapter) for prompt, adapter in zip(requests, plan, strict=True)]
        prompt_s, decode_s, tokens = (sum(column) for column in zip(*runs, strict=True))
        return {
            "decode_tokens_per_s": (tokens - len(runs)) / decode_s,
            "prompt_ms_mean": 1000 * prompt_s / len(runs),
            "end_to_end_tokens_per_s": tokens / (prompt_s + decode_s),
        }

    generate(prompts[0], None)  # warm-up
    base = throughput([None] * len(requests))
    per_adapter = {name: throughput([name] * len(requests)) for name in names}
    cycle = [None, *names]
    alternating = throughput([cycle[i % len(cycle)] for i in range(len(requests))])
    single = per_adapter[names[0]]

    def swap() -> None:
        with backend._lock:
            backend._apply(names[0])
            backend._apply(names[1])

    swaps = [_ms(swap) / 2 for _ in range(200)]
    gguf = resolve_gguf(settings)
    lora_path = adapters[0].card.exports["lora"]["path"]
    reloads = [_ms(lambda: _reload(gguf, lora_path, settings.llm.n_ctx)) for _ in range(3)]
    report = {
        "machine": {"cpus": os.cpu_count()},
        "adapters": names,
        "adapter_first_load_ms": {k: round(v, 1) for k, v in load_ms.items()},
        "switch_ms": {
            "hot_swap_p50": round(statistics.median(swaps), 4),
            "reload_with_lora_path_p50": round(statistics.median(reloads), 1),
            "ratio_reload_to_hot_swap": round(statistics.median(reloads) / statistics.median(swaps)),
        },
        "throughput": {k: _rounded(v) for k, v in {"base": base, **per_adapter, "alternating": alternating}.items()},
        "ratio_adapter_to_base": {k: _ratios(v, base) for k, v in per_adapter.items()},
        "ratio_alternating_to_one_adapter": _ratios(alternating, single),
        "settings": {"requests_per_arm": len(requests), "max_tokens": args.max_tokens, "k": settings.retrieval.k},
    }
    print(json.dumps(report, indent=2))


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in figures.items()}


def _ratios(figures: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Higher is better for every ratio: throughputs divide, prompt times divide the other way."""
    return {k: round(baseline[k] / v if k.endswith("_ms_mean") else v / baseline[k], 3) for k, v in figures.items()}


def _reload(gguf: Path, lora_path: str, n_ctx: int) -> None:
    from llama_cpp import Llama

    Llama(model_path=str(gguf), lora_path=lora_path, n_ctx=n_ctx, verbose=False).close()


def _ms(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
