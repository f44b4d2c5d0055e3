"""The sample adapters shipped in samples/adapters/, as `make demo` uses them: imported (exported to GGUF and
checked against PEFT), then answering the demo's questions, which are in neither the eval nor the training
sets, in their domain's format and citing the passages they rest on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.registry import AdapterCard
from adapters.training.dataset import load_training_set
from assistant.core.config import load_settings
from assistant.core.near_duplicates import overlapping_questions
from assistant.runtime import Runtime
from eval.key_facts import cited_ids

from .conftest import SAMPLE_DOMAINS, SAMPLES, home_sharing, invoke


def demo_questions() -> dict[str, str]:
    lines = (SAMPLES / "demo_questions.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Path:
    """The sample index with the shipped adapters imported, as after `make demo`."""
    home = home_sharing(tmp_path_factory.mktemp("demo") / "home", sample_home, "models", "index")
    for domain in SAMPLE_DOMAINS:
        done = invoke("assistant", "adapters", "import", SAMPLES / "adapters" / domain, "--json", home=home)
        assert done.returncode == 0, done.stderr
        card = done.json()
        assert card["name"] == f"{domain}@1" and card["active"] is True
        checks = card["exports"]["lora"]["checks"]
        assert checks and all(c["passed"] for c in checks), checks
    return home


def test_the_shipped_adapters_carry_their_data_hash_and_questions() -> None:
    training_questions = []
    for domain in SAMPLE_DOMAINS:
        folder = SAMPLES / "adapters" / domain
        card = AdapterCard.model_validate_json((folder / "card.json").read_text())
        data = SAMPLES / "training" / f"{domain}.jsonl"
        assert card.domain == domain and Path(card.dataset.path) == data.relative_to(SAMPLES.parent)
        current = load_training_set(data, domain, held_out_fraction=0.1, seed=0, eval_questions=[])
        assert card.dataset.sha256 == current.sha256, f"{data} changed since the adapter was trained: make adapters"
        training_questions += json.loads((folder / "training_questions.json").read_text())
    demo = list(demo_questions().values())
    eval_questions = [json.loads(line)["question"] for line in (SAMPLES / "eval.jsonl").read_text().splitlines()]
    assert overlapping_questions(demo, training_questions + eval_questions) == []


@pytest.mark.parametrize("domain", SAMPLE_DOMAINS)
def test_demo_answers_with_the_adapter_in_the_domains_format_citing_sources(demo_home: Path, domain: str) -> None:
    settings = load_settings(home=demo_home, config_file=SAMPLES / "config.toml")
    runtime = Runtime(settings)
    result = runtime.ask(demo_questions()[domain])
    assert result.route.domain == domain and result.adapter == f"{domain}@1"
    assert not result.refused and result.cited and result.dropped_citations == 0, result.answer
    answer_format = settings.domains[domain].answer_format
    assert answer_format and re.fullmatch(answer_format, result.answer.strip(), re.DOTALL), result.answer
    given = [c.text for c in result.citations]
    assert cited_ids(result.answer, given) in (None, 1.0), f"a clause named is in no cited passage: {result.answer}"
    base = runtime.ask(demo_questions()[domain], adapter="none")
    assert base.adapter is None and base.answer != result.answer
