"""The hf backend: transformers + PEFT on the training base, one adapter per request.

Adapter switching runs on a tiny Gemma 3 with strong random adapters, against
references that each load one adapter alone; one test answers through the
Runtime with the real Gemma 3 270M.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import cast

import pytest
import torch

from adapters.base_model import BaseModelIdentity, load_options, resolve_base_model, training_plan
from adapters.registry import AdapterVersion
from assistant.backends.hf import HFBackend, until_stop
from assistant.core.config import Settings, load_settings
from assistant.core.errors import UserError
from assistant.core.prompts import STOP_SEQUENCES, build_prompt
from assistant.core.results import Passage
from assistant.runtime import Runtime
from tests.conftest import register_random_adapter, sample_questions

PROMPT = build_prompt(
    "How long are signed contracts kept?",
    [Passage(chunk_id="c", domain="d", source="c.md", title="C", text="Contracts are kept ten years.", score=1.0)],
)


@pytest.fixture
def tiny_settings(home: Path, tiny_base: Path) -> Settings:
    return load_settings(home=home, training={"base_model": tiny_base}, llm={"backend": "hf", "max_tokens": 12})


@pytest.fixture
def tiny_adapters(home: Path, tiny_settings: Settings) -> list[AdapterVersion]:
    """Three adapters strong enough (B ~ N(0, 0.5)) to change the tiny model's greedy output."""
    base = resolve_base_model(tiny_settings)
    return [register_random_adapter(home, base, d, std=0.5, seed=s) for s, d in enumerate(("a", "b", "c"), 1)]


def generate(backend: HFBackend, adapter: str | None) -> str:
    return "".join(backend.stream(PROMPT, adapter))


def test_each_request_runs_with_its_own_adapter_only(
    tiny_settings: Settings, tiny_adapters: list[AdapterVersion]
) -> None:
    alone: dict[str | None, str] = {None: generate(HFBackend(tiny_settings), None)}
    for adapter in tiny_adapters:
        reference = HFBackend(tiny_settings)
        reference.load_adapter(adapter)
        alone[adapter.name] = generate(reference, adapter.name)
    assert all(alone.values()), alone
    assert len(set(alone.values())) == 4, f"each adapter changes the output, differently: {alone}"

    shared = HFBackend(tiny_settings)
    for adapter in [*tiny_adapters, tiny_adapters[0]]:  # loading again is a no-op
        shared.load_adapter(adapter)
    a, b, c = (adapter.name for adapter in tiny_adapters)
    for name in (a, b, None, c, a, None, b, c, b, a):
        assert generate(shared, name) == alone[name], f"request with {name}"
    abandoned = cast(Generator[str, None, None], shared.stream(PROMPT, a))  # HFBackend.stream is a generator
    next(abandoned)
    abandoned.close()  # a client that goes away mid-answer stops generation and frees the model
    assert generate(shared, b) == alone[b]


def test_an_adapter_must_be_loaded_before_a_request_uses_it(
    tiny_settings: Settings, tiny_adapters: list[AdapterVersion]
) -> None:
    with pytest.raises(UserError, match="adapter a@1 is not loaded"):
        generate(HFBackend(tiny_settings), "a@1")


def test_an_adapter_of_another_base_is_refused(tiny_settings: Settings, tiny_adapters: list[AdapterVersion]) -> None:
    adapter = tiny_adapters[0]
    other = BaseModelIdentity(name="other-model", weights_sha256="0" * 64)
    foreign = AdapterVersion(adapter.path, adapter.card.model_copy(update={"base": other}), adapter.active)
    backend = HFBackend(tiny_settings)
    with pytest.raises(UserError, match=r"adapter a@1 was trained on other-model .* the hf backend serves tiny-gemma3"):
        backend.load_adapter(foreign)
    backend.load_adapter(adapter)  # the refusal left nothing half-loaded behind


def test_a_domain_with_a_dot_can_be_served(home: Path, tiny_settings: Settings) -> None:
    """PEFT adapter names become module names, which can't contain "."; registry names can."""
    adapter = register_random_adapter(home, resolve_base_model(tiny_settings), "hr.eu", std=0.5)
    backend = HFBackend(tiny_settings)
    backend.load_adapter(adapter)
    assert generate(backend, "hr.eu@1") != generate(backend, None)


def test_generation_stops_before_any_stop_sequence_even_split_over_pieces() -> None:
    def run(*pieces: str) -> list[str]:
        return list(until_stop(iter(pieces), STOP_SEQUENCES))

    assert "".join(run(" Ten years [1].", "\n", "Quest", "ion: more")) == " Ten years [1]."
    assert "".join(run(" Ten", " years", "\n\n", "\n")) == " Ten years"
    assert "".join(run(" A <pass", "ages> b")) == " A "
    assert run("\nQuestion: at once") == []
    assert run(" Ten", " years.\n", "Q") == [" Ten", " years.", "\nQ"], "held text is released once it can't stop"
    assert run(" Ten <", "b>") == [" Ten ", "<b>"]


def test_the_cuda_load_is_the_4bit_nf4_base_qlora_trained_on() -> None:
    cuda = load_options(training_plan(cuda=True))
    nf4 = cuda["quantization_config"]
    assert nf4 is not None and nf4.load_in_4bit and nf4.bnb_4bit_quant_type == "nf4"
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16 == cuda["dtype"]
    assert cuda["device_map"] == {"": 0}
    assert load_options(training_plan(cuda=False)) == {"dtype": torch.float32}


@pytest.mark.slow
def test_runtime_answers_with_and_without_an_adapter_on_the_real_model(served_home: Path) -> None:
    runtime = Runtime(load_settings(home=served_home, llm={"backend": "hf", "max_tokens": 48}))
    question = next(str(q["question"]) for q in sample_questions() if q["domain"] == "policy")
    pieces: list[str] = []
    base = runtime.ask(question, domain="policy", adapter="none", on_token=pieces.append)
    adapted = runtime.ask(question, domain="policy", adapter="policy@1")
    again = runtime.ask(question, domain="policy", adapter="none")
    assert base.answer and adapted.answer
    assert len(pieces) > 1, "the answer streams piece by piece"
    assert base.adapter is None and adapted.adapter == "policy@1"
    assert adapted.answer != base.answer, "the adapter changes the answer"
    assert again.answer == base.answer, "switching back restores the base"
    assert not any(stop in a.answer for a in (base, adapted) for stop in STOP_SEQUENCES)
