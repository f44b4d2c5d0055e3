"""`assistant adapters import`: LoRA folders written by plain peft ``save_pretrained``, as Unsloth, TRL or
axolotl write them, outside this project's trainer; on the real Gemma base, exported and checked."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.base_model import BaseCheckpoint, load_causal_lm
from adapters.registry import Registry
from assistant.core.config import load_settings

from .conftest import invoke, make_card


def peft_folder(path: Path, base: Path, *, modules_to_save: list[str] | None = None) -> Path:
    """A LoRA adapter saved by peft alone, with random non-zero B matrices so that it changes the logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj"], modules_to_save=modules_to_save)
    model = get_peft_model(load_causal_lm(base), config)
    torch.manual_seed(7)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    model.save_pretrained(str(path))
    return path


def _nothing_registered(home: Path) -> None:
    registry = Registry(load_settings(home=home).adapters_dir)
    assert registry.versions("support") == []
    assert not list((registry.root / "support").glob(".building-*"))


def test_a_folder_peft_wrote_is_registered_exported_and_checked(
    home: Path, tmp_path: Path, hf_base: BaseCheckpoint
) -> None:
    folder = peft_folder(tmp_path / "from-a-gpu", hf_base.path)
    done = invoke("assistant", "adapters", "import", folder, "--domain", "support", "--json", home=home)
    assert done.returncode == 0, done.stderr
    card = done.json()
    assert card["name"] == "support@1" and card["active"] is True
    assert card["method"] == "LoRA r=4 (imported)" and card["held_out_loss"] is None
    assert card["base"]["weights_sha256"] == hf_base.identity.weights_sha256
    lora = card["exports"]["lora"]
    assert Path(lora["path"]).is_file() and lora["checks"] and all(c["passed"] for c in lora["checks"])
    listed = invoke("assistant", "adapters", "list", "--json", home=home).json()
    assert [a["name"] for a in listed["adapters"]] == ["support@1"]
    again = invoke("assistant", "adapters", "import", folder, "--domain", "support", "--json", home=home)
    assert again.returncode == 0 and again.json()["name"] == "support@1", "the same weights are not a new version"


def test_the_domain_comes_from_the_card_beside_the_weights(home: Path, tmp_path: Path, hf_base: BaseCheckpoint) -> None:
    folder = peft_folder(tmp_path / "ours", hf_base.path)
    (folder / "card.json").write_text(make_card("policy", hf_base.identity, held_out_loss=0.47).model_dump_json())
    (folder / "training_questions.json").write_text(json.dumps(["Can I expense a taxi?"]))
    done = invoke("assistant", "adapters", "import", folder, "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert done.json()["name"] == "policy@1" and done.json()["held_out_loss"] == 0.47
    kept = Registry(load_settings(home=home).adapters_dir).get("policy@1").path / "training_questions.json"
    assert json.loads(kept.read_text()) == ["Can I expense a taxi?"]


def test_what_cannot_be_served_is_refused_before_anything_is_registered(
    home: Path, tmp_path: Path, hf_base: BaseCheckpoint, tiny_base: Path
) -> None:
    def refused(folder: Path, expected: str, *args: str) -> None:
        done = invoke("assistant", "adapters", "import", folder, *args, home=home)
        assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr
        _nothing_registered(home)

    head = peft_folder(tmp_path / "head", hf_base.path, modules_to_save=["lm_head"])
    refused(head, "llama.cpp serves plain LoRA matrices only", "--domain", "support")
    refused(peft_folder(tmp_path / "tiny", tiny_base), "does not fit", "--domain", "support")
    refused(peft_folder(tmp_path / "nameless", hf_base.path), "give one with --domain")
    other = peft_folder(tmp_path / "other-base", hf_base.path)
    foreign = hf_base.identity.__class__(name="another-model", weights_sha256="0" * 64)
    (other / "card.json").write_text(make_card("support", foreign).model_dump_json())
    refused(other, "not on the base served here")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "has no adapter_model.safetensors", "--domain", "support")
