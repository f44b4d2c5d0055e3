"""CPU training speed: bf16 autocast against the fp32 baseline, in one run on one machine.

    .venv/bin/python bench/training_speed.py --home DIR [--steps 8] [--domain support]

DIR must hold the sample corpus (RAFT examples are built from its index). Each arm trains the same
adapter (same data, seed and examples) for ``--steps`` optimizer steps with ``adapters train``'s own
code, then measures the held-out loss. Reports, as JSON: optimizer steps/s (model loading and the
held-out evaluation excluded), the held-out loss, and both as ratios to fp32. bf16 pays off only
where the CPU computes it natively (AVX512-BF16 or AMX); the report says whether this one does.
Batches are single examples with gradient accumulation, so there is no padding for length
bucketing or packing to remove.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from adapters.registry import Registry
from adapters.training.dataset import load_training_set
from adapters.training.train import Progress, train_adapter
from assistant.core.config import load_settings
from assistant.runtime import Runtime

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8, help="Optimizer steps per arm.")
    parser.add_argument("--domain", default="support", choices=["support", "policy"])
    args = parser.parse_args()
    arms = {"fp32": False, "bf16_autocast": True}
    report: dict[str, object] = {"cpu_bf16_flags": sorted(set(BF16_FLAGS) & _cpu_flags()), "steps": args.steps}
    results = {name: _train(args.home, args.domain, args.steps, bf16) for name, bf16 in arms.items()}
    baseline = results["fp32"]
    for result in results.values():
        result["steps_per_s_ratio"] = round(result["steps_per_s"] / baseline["steps_per_s"], 3)
        result["held_out_loss_change"] = round(result["held_out_loss"] / baseline["held_out_loss"] - 1, 4)
    report["arms"] = results
    print(json.dumps(report, indent=2))


def _train(home: Path, domain: str, steps: int, bf16: bool) -> dict[str, float]:
    training = {"max_steps": steps, "eval_steps": steps, "cpu_bf16": bf16}
    settings = load_settings(home=home, training=training)
    data_path = SAMPLES / "training" / f"{domain}.jsonl"
    data = load_training_set(data_path, domain, held_out_fraction=0.1, seed=0, eval_questions=[])
    stamps: list[tuple[int, float]] = []

    def on_progress(progress: Progress) -> None:
        if progress.loss is not None:
            stamps.append((progress.step, time.perf_counter()))

    retrieve = Runtime(settings).retriever(domain)
    adapter = train_adapter(
        settings, domain, data, data_path, retrieve, activate=False, on_progress=on_progress, on_notice=lambda _: None
    )
    if not adapter.active:  # the first adapter of a domain is made active whatever is asked
        Registry(settings.adapters_dir).delete(adapter.name)
    (first_step, first_time), (last_step, last_time) = stamps[0], stamps[-1]
    assert adapter.card.held_out_loss is not None
    return {
        "steps_per_s": (last_step - first_step) / (last_time - first_time),
        "held_out_loss": adapter.card.held_out_loss,
    }


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


if __name__ == "__main__":
    main()
