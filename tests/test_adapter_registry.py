"""The adapter registry: versions, one active per domain, rollback, deletion, and its CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base_model import BaseModelIdentity
from adapters.registry import Registry, parse_spec
from assistant.core.config import load_settings
from assistant.core.errors import UserError
from tests.conftest import invoke, make_card

BASE = BaseModelIdentity(name="base", weights_sha256="w" * 64, gguf_sha256="g" * 64)


def add_version(registry: Registry, domain: str, *, activate: bool = True, loss: float = 1.0) -> str:
    built = registry.new_build_dir(domain)
    (built / "adapter_model.safetensors").write_bytes(b"weights")
    return registry.register(built, make_card(domain, BASE, held_out_loss=loss), activate=activate).name


@pytest.fixture
def registry(home: Path) -> Registry:
    return Registry(load_settings(home=home).adapters_dir)


def test_versions_count_up_and_the_newest_becomes_active(registry: Registry) -> None:
    assert [add_version(registry, "policy") for _ in range(3)] == ["policy@1", "policy@2", "policy@3"]
    assert registry.get("policy").name == "policy@3"
    assert registry.get("policy@1").card.version == 1
    assert [v.active for v in registry.versions("policy")] == [False, False, True]
    assert not list((registry.root / "policy").glob(".building-*")), "no build folder is left behind"


def test_a_version_registered_without_activation_waits(registry: Registry) -> None:
    add_version(registry, "policy")
    add_version(registry, "policy", activate=False)
    assert registry.get("policy").name == "policy@1"


def test_activate_then_rollback_returns_to_the_previous_choice(registry: Registry) -> None:
    for _ in range(3):
        add_version(registry, "support")
    registry.activate("support@1")
    assert registry.get("support").name == "support@1"
    assert registry.rollback("support").name == "support@3"
    assert registry.rollback("support").name == "support@2"
    assert registry.rollback("support").name == "support@1"
    with pytest.raises(UserError, match="no earlier active adapter"):
        registry.rollback("support")


def test_delete_refuses_the_active_version_and_removes_others(registry: Registry) -> None:
    add_version(registry, "policy")
    add_version(registry, "policy")
    with pytest.raises(UserError, match="policy@2 is the active adapter"):
        registry.delete("policy@2")
    with pytest.raises(UserError, match="name the version"):
        registry.delete("policy")
    registry.delete("policy@1")
    assert [v.name for v in registry.versions("policy")] == ["policy@2"]
    assert not (registry.root / "policy" / "v1").exists()


def test_clear_errors_for_unknown_names(registry: Registry) -> None:
    with pytest.raises(UserError, match="no adapters for domain 'ghost'"):
        registry.get("ghost")
    add_version(registry, "policy")
    with pytest.raises(UserError, match="no adapter policy@7; versions: 1"):
        registry.get("policy@7")
    with pytest.raises(UserError, match="not an adapter name"):
        parse_spec("policy@two")
    assert parse_spec("policy@12") == ("policy", 12)


def test_cli_lists_shows_activates_and_rolls_back(home: Path) -> None:
    registry = Registry(load_settings(home=home).adapters_dir)
    assert "no adapters yet" in invoke("assistant", "adapters", "list", home=home).stdout
    add_version(registry, "policy", loss=2.5)
    add_version(registry, "policy", loss=1.25)
    listed = invoke("assistant", "adapters", "list", "--json", home=home).json()["adapters"]
    assert [(a["name"], a["active"], a["held_out_loss"]) for a in listed] == [
        ("policy@1", False, 2.5),
        ("policy@2", True, 1.25),
    ]
    shown = invoke("assistant", "adapters", "show", "policy@1", "--json", home=home).json()
    assert shown["base"] == {"name": "base", "weights_sha256": "w" * 64, "gguf_sha256": "g" * 64}
    assert "policy@1 is now active" in invoke("assistant", "adapters", "activate", "policy@1", home=home).stdout
    assert "policy@2 is active again" in invoke("assistant", "adapters", "rollback", "policy", home=home).stdout
    refused = invoke("assistant", "adapters", "delete", "policy@2", home=home)
    assert refused.returncode == 2 and "is the active adapter" in refused.stderr
    assert invoke("assistant", "adapters", "delete", "policy@1", home=home).returncode == 0


def test_cards_written_from_stale_copies_keep_what_others_recorded(registry: Registry) -> None:
    """Export and eval each hold the adapter as they loaded it: each record lands on the card as it is now."""
    stale = registry.get(add_version(registry, "policy"))
    registry.save_card(stale, exports={"lora": {"path": "policy-v1.lora.gguf"}})
    registry.save_card(stale, eval={"eval_set": "samples/eval.jsonl"})
    registry.save_card(stale, exports={"merged_q8_0": {"path": "policy-v1.merged-q8_0.gguf"}})
    card = registry.get("policy@1").card
    assert set(card.exports) == {"lora", "merged_q8_0"} and card.eval == {"eval_set": "samples/eval.jsonl"}
