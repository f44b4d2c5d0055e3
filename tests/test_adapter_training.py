"""Adapter training: the loss, the hardware plan, reproducibility, resume, early stopping, and a real run.

Many-step runs use a tiny Gemma 3 with the real tokenizer (``tiny_base``);
one run trains the real Gemma 3 270M through the CLI and serves the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from adapters.base_model import training_plan
from adapters.registry import AdapterVersion, Registry
from adapters.training.dataset import load_training_set
from adapters.training.raft import RaftExample
from adapters.training.train import IGNORE, answer_loss, collate, servable_only, tokenize, train_adapter
from adapters.training.train import Progress as TrainingProgress
from assistant.core.config import Settings, load_settings
from assistant.core.errors import UserError
from assistant.core.prompts import Prompt
from assistant.runtime import Runtime
from tests.conftest import SAMPLES, home_sharing, invoke

SUPPORT_DATA = SAMPLES / "training" / "support.jsonl"


def test_cuda_plan_is_qlora_nf4_double_quant_with_a_paged_optimizer() -> None:
    plan = training_plan(cuda=True)
    nf4 = plan.quantization
    assert nf4.load_in_4bit and not nf4.load_in_8bit
    assert nf4.bnb_4bit_quant_type == "nf4"
    assert nf4.bnb_4bit_use_double_quant is True
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16
    assert plan.optimizer == "paged_adamw_8bit" and plan.bf16 and plan.device == "cuda"
    assert plan.method.startswith("QLoRA")


def test_cpu_plan_is_plain_lora_on_fp32_and_says_so() -> None:
    plan = training_plan(cuda=False)
    assert plan.quantization is None and not plan.bf16 and plan.device == "cpu"
    assert plan.optimizer == "adamw_torch"
    assert "no CUDA" in plan.method


def test_loss_covers_answer_tokens_only_and_equals_the_full_computation(tiny_base: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    short = tokenize(RaftExample(Prompt("", "Question: sky colour?"), "Blue [1]."), tokenizer)
    long = tokenize(RaftExample(Prompt("A longer prompt about routers.", "Question: is it so?"), "Yes."), tokenizer)
    answer_tokens = tokenizer(" Blue [1].", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert [t for t in short["labels"] if t != IGNORE] == answer_tokens
    assert short["input_ids"][0] == tokenizer.bos_token_id, "the prompt starts with BOS, as llama.cpp serves it"
    with torch.no_grad():
        full = [
            model(input_ids=torch.tensor([e["input_ids"]]), labels=torch.tensor([e["labels"]])).loss
            for e in (short, long)
        ]
        assert float(answer_loss(model, collate([short], 0))) == pytest.approx(float(full[0]), rel=1e-5)
        counts = [sum(t != IGNORE for t in e["labels"]) for e in (short, long)]
        token_mean = (full[0] * counts[0] + full[1] * counts[1]) / sum(counts)
        padded = answer_loss(model, collate([short, long], tokenizer.pad_token_id))
        assert float(padded) == pytest.approx(float(token_mean), rel=1e-5), "left padding changes nothing"


def test_adapters_that_train_more_than_lora_matrices_are_refused(tiny_base: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_base),
        LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"]),
    )
    with pytest.raises(UserError, match="only LoRA matrices may be trained"):
        servable_only(model)


def tiny_settings(home: Path, tiny_base: Path, **training: Any) -> Settings:
    defaults = {"base_model": tiny_base, "eval_steps": 2, "learning_rate": 1e-3, "max_steps": 4}
    return load_settings(home=home, training={**defaults, **training}, retrieval={"k": 2})


def train_tiny(settings: Settings, sample_runtime: Runtime, **options: Any) -> AdapterVersion:
    """24 training and 4 held-out examples of the sample support set."""
    data = load_training_set(SUPPORT_DATA, "support", held_out_fraction=0.02, seed=0, eval_questions=[])
    small = type(data)(train=data.train[:24], held_out=data.held_out[:4], sha256=data.sha256)
    kwargs: dict[str, Any] = {"on_notice": lambda _: None, **options}
    return train_adapter(settings, "support", small, SUPPORT_DATA, sample_runtime.retriever("support"), **kwargs)


def lora_weights(adapter: AdapterVersion) -> dict[str, torch.Tensor]:
    return load_file(adapter.path / "adapter_model.safetensors")


def test_same_seed_same_adapter_other_seed_other_adapter(home: Path, tiny_base: Path, sample_runtime: Runtime) -> None:
    first = lora_weights(train_tiny(tiny_settings(home, tiny_base, max_steps=2), sample_runtime))
    again = lora_weights(train_tiny(tiny_settings(home, tiny_base, max_steps=2), sample_runtime))
    other = lora_weights(train_tiny(tiny_settings(home, tiny_base, max_steps=2, seed=1), sample_runtime))
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    assert not any(k for k in first if "lora_" not in k), "only LoRA matrices are saved"


def test_an_interrupted_run_resumes_from_its_checkpoint(home: Path, tiny_base: Path, sample_runtime: Runtime) -> None:
    settings = tiny_settings(home, tiny_base, max_steps=4)  # a checkpoint every 2 steps

    def interrupt_at_step_3(report: TrainingProgress) -> None:
        if report.step >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_tiny(settings, sample_runtime, on_progress=interrupt_at_step_3)
    assert Registry(settings.adapters_dir).domains() == [], "nothing half-trained is registered"
    notices: list[str] = []
    steps: list[int] = []
    adapter = train_tiny(
        settings, sample_runtime, on_notice=notices.append, on_progress=lambda report: steps.append(report.step)
    )
    assert any("resuming" in notice for notice in notices)
    assert min(steps) == 3, "steps 1-2 came from the checkpoint, not trained again"
    assert adapter.card.steps == 4
    assert not any((settings.adapters_dir / "support" / "runs").iterdir()), "the finished run's checkpoints go"


def test_training_stops_early_when_held_out_loss_stops_improving(
    home: Path, tiny_base: Path, sample_runtime: Runtime
) -> None:
    # A learning rate this large overshoots at once: held-out loss gets worse, so patience runs out.
    settings = tiny_settings(home, tiny_base, max_steps=40, eval_steps=1, patience=2, learning_rate=3.0)
    adapter = train_tiny(settings, sample_runtime)
    assert adapter.card.stopped_early
    assert adapter.card.steps < 40


def test_train_cli_on_the_real_default_model_registers_exports_and_serves(sample_home: Path, tmp_path: Path) -> None:
    """The whole loop on Gemma 3 270M: one optimizer step, a checked GGUF export, an answer with the adapter."""
    home = home_sharing(tmp_path / "home", sample_home, "models", "index")
    data = tmp_path / "train.jsonl"
    lines = SUPPORT_DATA.read_text().splitlines()[:12]
    data.write_text("\n".join(lines) + "\n")
    grounded = sum(bool(json.loads(line).get("sources")) for line in lines)  # refusals are left out by default
    assert 0 < grounded < 12
    trained = invoke(
        "assistant",
        "adapters",
        "train",
        "--domain",
        "support",
        "--data",
        data,
        "--eval-set",
        SAMPLES / "questions.jsonl",
        "--max-steps",
        "1",
        "--json",
        home=home,
    )
    assert trained.returncode == 0, trained.stderr
    card = trained.json()
    assert card["name"] == "support@1" and card["active"] is True
    assert card["method"].startswith("LoRA (fp32 base")
    assert card["base"]["gguf_sha256"]
    assert card["dataset"]["examples"] == grounded and card["steps"] == 1
    assert card["hyperparameters"]["target_modules"] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert card["train_loss"] > 0 and card["held_out_loss"] > 0
    assert card["hardware"]["device"] == "cpu"
    [check] = [c for c in card["exports"]["lora"]["checks"] if c["artifact"] == "lora"]
    assert check["passed"] and check["top1_agreement"] == 1.0
    answered = invoke("assistant", "ask", "How do I reset the unit?", "--json", home=home)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["adapter"] == "support@1"
