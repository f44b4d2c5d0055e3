"""Copy the active sample adapters from a data home into ``samples/adapters/<domain>/``, ready to import.

The folder is what ``assistant adapters import`` reads: the PEFT config, the LoRA matrices in f16
(half the size of the fp32 ones trained on CPU; llama.cpp serves them as F16 anyway), the card with
the training data's sha256, and the training questions, so eval can refuse a set the adapter saw.
The card's exports and eval figures belong to the data home that made them and are left out, and its
data path is made relative to the repository.

Usage: ``python scripts/ship_sample_adapters.py [--home DIR]`` (run by scripts/train_sample_adapters.sh).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from adapters.registry import CARD_FILE, TRAINING_QUESTIONS_FILE, Registry
from adapters.training.import_peft import CONFIG_FILE, WEIGHTS_FILE
from assistant.core.config import load_settings

REPO = Path(__file__).resolve().parents[1]
DOMAINS = ("support", "policy")


def ship(registry: Registry, domain: str, out: Path) -> Path:
    adapter = registry.active(domain)
    if adapter is None:
        raise SystemExit(f"no active {domain} adapter in {registry.root}: run scripts/train_sample_adapters.sh")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copyfile(adapter.path / CONFIG_FILE, out / CONFIG_FILE)
    shutil.copyfile(adapter.path / TRAINING_QUESTIONS_FILE, out / TRAINING_QUESTIONS_FILE)
    weights = {name: tensor.half().contiguous() for name, tensor in load_file(adapter.path / WEIGHTS_FILE).items()}
    save_file(weights, out / WEIGHTS_FILE)
    dataset = adapter.card.dataset.model_copy(
        update={"path": Path(adapter.card.dataset.path).relative_to(REPO).as_posix()}
    )
    card = adapter.card.model_copy(update={"version": 0, "eval": None, "exports": {}, "dataset": dataset})
    (out / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="data home holding the trained adapters")
    registry = Registry(load_settings(home=parser.parse_args().home).adapters_dir)
    for domain in DOMAINS:
        print(f"{domain}: {ship(registry, domain, REPO / 'samples' / 'adapters' / domain)}")


if __name__ == "__main__":
    main()
