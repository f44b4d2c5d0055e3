"""GGUF export on the real Gemma 3 270M: the files, their check against PEFT, and serving them.

Adapters here have random non-zero B matrices, so their effect on the logits
is large and known to be there; a trained adapter is exported in
``test_adapter_training``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from adapters.base_model import BaseCheckpoint, BaseModelIdentity
from adapters.gguf_files import read_lora, verify_adapter_file, write_lora_gguf
from adapters.registry import AdapterVersion, Registry
from adapters.training.equivalence import (
    Agreement,
    agreement,
    check_prompts,
    llamacpp_lora_logits,
    plain_base,
    reference_logits,
)
from adapters.training.export import export_adapter
from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.core.models import resolve_gguf
from tests.conftest import home_sharing, invoke, register_random_adapter


@pytest.fixture(scope="module")
def export_home(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Path:
    """The sample index and models, with adapters of its own."""
    return home_sharing(tmp_path_factory.mktemp("export") / "home", sample_home, "models", "index")


@pytest.fixture(scope="module")
def policy_adapter(export_home: Path, hf_base: BaseCheckpoint) -> AdapterVersion:
    return register_random_adapter(export_home, hf_base, "policy")


@pytest.fixture(scope="module")
def served_gguf(export_home: Path) -> Path:
    return resolve_gguf(load_settings(home=export_home))


def test_export_writes_a_llama_cpp_lora_and_a_merged_model_that_agree_with_peft(
    export_home: Path, policy_adapter: AdapterVersion
) -> None:
    result = invoke("assistant", "adapters", "export", "policy@1", "--merged", "--json", home=export_home)
    assert result.returncode == 0, result.stderr
    exports = result.json()["exports"]
    assert set(exports) == {"lora", "merged_f16"}
    checks = {c["artifact"]: c for e in exports.values() for c in e["checks"]}
    assert set(checks) == {"lora", "lora_on_served_base", "merged_f16"}
    for name in ("lora", "merged_f16"):
        check = checks[name]
        # The logits are the agreement measured; the argmax is not: on a near-tied next token it flips within
        # the tolerance (once in CI, on 1 of the 3 prompts, while every logit stayed within the tolerance).
        assert check["passed"] and check["top1_agreement"] >= 2 / 3
        assert check["adapter_effect"] > 10 * check["max_logit_diff"], "the adapter changes logits far beyond the error"
        assert check["effect_cosine"] >= 0.98
    assert checks["lora_on_served_base"]["passed"]
    card = Registry(load_settings(home=export_home).adapters_dir).get("policy@1").card
    assert card.exports["lora"]["path"] == exports["lora"]["path"]


def test_lora_gguf_follows_llama_cpp_conventions_and_names_its_base(
    export_home: Path, policy_adapter: AdapterVersion, served_gguf: Path
) -> None:
    lora = read_lora(policy_adapter, served_gguf)
    path = write_lora_gguf(policy_adapter, lora, served_gguf, export_home / "conventions.lora.gguf")
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "gemma3" and fields["adapter.lora.alpha"] == 16.0
    assert fields["domain_assistant.base.gguf_sha256"] == policy_adapter.card.base.gguf_sha256
    tensors = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}
    assert len(tensors) == 18 * 3 * 2  # 18 layers x (q, v, down) x (a, b)
    assert tensors["blk.0.attn_q.weight.lora_a"] == (8, 640)
    assert tensors["blk.0.attn_q.weight.lora_b"] == (1024, 8)
    assert tensors["blk.17.ffn_down.weight.lora_a"] == (8, 2048)
    assert verify_adapter_file(path, served_gguf, export_home / "models") == "policy@1"


@pytest.fixture(scope="module")
def q8_export(export_home: Path, hf_base: BaseCheckpoint) -> tuple[AdapterVersion, list[Agreement]]:
    adapter = register_random_adapter(export_home, hf_base, "support", seed=1)
    return export_adapter(load_settings(home=export_home), adapter, merged="q8_0", on_notice=lambda _: None)


def test_q8_0_merge_passes_the_check(q8_export: tuple[AdapterVersion, list[Agreement]]) -> None:
    merged = next(c for c in q8_export[1] if c.artifact == "merged_q8_0")
    assert merged.passed and merged.top1_agreement == 1.0
    assert merged.noise_floor > 0, "Q8_0 has a floor of its own, measured on the plain Q8_0 base"


def test_merged_model_keeps_every_metadata_field_of_the_base(
    q8_export: tuple[AdapterVersion, list[Agreement]], served_gguf: Path
) -> None:
    merged = gguf.GGUFReader(q8_export[0].card.exports["merged_q8_0"]["path"])
    base = gguf.GGUFReader(served_gguf)
    for name, field in base.fields.items():
        if name.startswith("GGUF.") or name == "general.file_type":
            continue
        assert merged.fields[name].contents() == field.contents(), name
    assert merged.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_Q8_0)
    assert merged.fields["domain_assistant.adapter"].contents() == "support@1"
    types = {t.name: t.tensor_type for t in merged.tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert len(merged.tensors) == len(base.tensors)


def test_check_catches_a_wrong_scale_and_missing_layers(
    export_home: Path, policy_adapter: AdapterVersion, hf_base: BaseCheckpoint, served_gguf: Path
) -> None:
    """The check must fail exports that are subtly wrong, not only ones that do not load."""
    prompts = check_prompts()
    reference = reference_logits(policy_adapter, hf_base, prompts)
    f16 = plain_base(served_gguf, "f16", export_home / "models")
    lora = read_lora(policy_adapter, served_gguf)
    wrong_scale = dataclasses.replace(lora, alpha=lora.alpha * 1.5)
    half = dataclasses.replace(lora, pairs={k: v for k, v in lora.pairs.items() if not k.startswith("blk.1")})
    for name, broken in (("wrong-scale", wrong_scale), ("missing-layers", half)):
        path = write_lora_gguf(policy_adapter, broken, served_gguf, export_home / f"{name}.lora.gguf")
        result = agreement(reference, *llamacpp_lora_logits(f16, path, prompts), name)
        assert not result.passed, result
    right = write_lora_gguf(policy_adapter, lora, served_gguf, export_home / "right.lora.gguf")
    assert agreement(reference, *llamacpp_lora_logits(f16, right, prompts), "right").passed


def test_an_adapter_of_another_base_is_refused_at_export_and_at_load(
    export_home: Path, policy_adapter: AdapterVersion, served_gguf: Path, tiny_base: Path
) -> None:
    registry = Registry(load_settings(home=export_home).adapters_dir)
    other = dataclasses.replace(policy_adapter.card.base, gguf_sha256="0" * 64)
    stranger = registry.save_card(policy_adapter, base=other)
    with pytest.raises(UserError, match=r"was trained on .* but the model configured is gemma-3-270m"):
        export_adapter(load_settings(home=export_home), stranger, on_notice=lambda _: None)
    path = write_lora_gguf(stranger, read_lora(stranger, served_gguf), served_gguf, export_home / "stranger.gguf")
    with pytest.raises(UserError, match="adapter policy@1 was trained on its base"):
        verify_adapter_file(path, served_gguf, export_home / "models")
    registry.save_card(stranger, base=policy_adapter.card.base)

    tiny = register_random_adapter(
        export_home, BaseCheckpoint(tiny_base, BaseModelIdentity(name="tiny", weights_sha256="t" * 64)), "tiny"
    )
    with pytest.raises(UserError, match=r"does not fit gemma-3-270m.*trained on another base model"):
        read_lora(tiny, served_gguf)


def test_adapters_llama_cpp_cannot_serve_are_refused(export_home: Path, hf_base: BaseCheckpoint) -> None:
    adapter = register_random_adapter(export_home, hf_base, "saver", modules_to_save=["lm_head"])
    result = invoke("assistant", "adapters", "export", "saver", home=export_home)
    assert result.returncode == 2
    assert "uses modules_to_save: llama.cpp serves plain LoRA matrices only" in result.stderr
    assert not list(adapter.path.glob("*.gguf"))


def test_ask_applies_the_active_adapter_per_request(export_home: Path, hf_base: BaseCheckpoint) -> None:
    # Strong enough (B ~ N(0, 0.05)) to change a greedy answer; weaker ones may leave a short answer as it was.
    adapter = register_random_adapter(export_home, hf_base, "policy", std=0.05, seed=2)
    invoke("assistant", "adapters", "export", adapter.name, "--no-check", home=export_home)
    question = "Can I accept a gift card from a supplier?"
    answers: dict[str, list[dict[str, Any]]] = {}
    for choice in ("none", "auto", adapter.name, "none"):
        result = invoke(
            "assistant", "ask", question, "--domain", "policy", "--adapter", choice, "--json", home=export_home
        )
        assert result.returncode == 0, result.stderr
        answers.setdefault(choice, []).append(json.loads(result.stdout))
    assert answers["auto"][0]["adapter"] == adapter.name == answers[adapter.name][0]["adapter"]
    assert answers["none"][0]["adapter"] is None
    assert answers["auto"][0]["answer"] == answers[adapter.name][0]["answer"]
    assert answers["auto"][0]["answer"] != answers["none"][0]["answer"], "the adapter changes the answer"
    assert answers["none"][0]["answer"] == answers["none"][1]["answer"], "switching back restores the base"


def test_ask_names_what_is_missing(export_home: Path, hf_base: BaseCheckpoint) -> None:
    register_random_adapter(export_home, hf_base, "fresh")
    question = "Can I accept a gift card from a supplier?"  # covered: an uncovered one never reaches the adapter
    result = invoke("assistant", "ask", question, "--domain", "policy", "--adapter", "fresh", home=export_home)
    assert result.returncode == 2
    assert "fresh@1 has no GGUF export for llama.cpp yet: run `assistant adapters export fresh@1`" in result.stderr
    result = invoke("assistant", "ask", "Anything?", "--adapter", "nope@3", home=export_home)
    assert result.returncode == 2 and "no adapters for domain 'nope'" in result.stderr


def test_logits_differ_between_base_and_adapter_in_llama_cpp(
    export_home: Path, policy_adapter: AdapterVersion, served_gguf: Path
) -> None:
    """Hot-swapping in one llama.cpp instance: adapter on, off, on again gives the same logits each time."""
    from assistant.backends.llamacpp import LlamaCppBackend
    from assistant.core.config import LLMSettings

    lora = write_lora_gguf(
        policy_adapter, read_lora(policy_adapter, served_gguf), served_gguf, export_home / "swap.lora.gguf"
    )
    backend = LlamaCppBackend(served_gguf, LLMSettings(n_ctx=1024), hash_cache=export_home / "models")
    backend.load_adapter_file("policy@1", lora)
    prompt = check_prompts()[0]
    on, off, on_again, off_again = (backend.next_token_logits(prompt, a) for a in ("policy@1", None, "policy@1", None))
    assert np.array_equal(on, on_again) and np.array_equal(off, off_again)
    assert np.abs(on - off).max() > 1.0
