"""`assistant adapters import`: a PEFT LoRA folder trained anywhere becomes a registered, exported version.

Unsloth, LLaMA-Factory, axolotl, TRL and our own trainer all write the same
folder (``adapter_config.json`` + ``adapter_model.safetensors``), so a team can
train on a rented GPU and serve on CPU. Before anything is registered, the
folder is checked: plain LoRA only, every matrix fits the served base's
tensors, and a base identity recorded on a card beside it must be this base's.
The version then gets a card and a GGUF export checked against PEFT.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from adapters.base_model import BaseModelIdentity, resolve_base_model
from adapters.gguf_files import read_lora
from adapters.registry import CARD_FILE, TRAINING_QUESTIONS_FILE, AdapterCard, AdapterVersion, DatasetInfo, Registry
from adapters.training.equivalence import Agreement
from adapters.training.export import export_adapter
from assistant.core.config import Settings
from assistant.core.errors import TRAIN_MODULES, UserError, require_extra
from assistant.core.models import resolve_gguf
from ingest.store import check_domain_name

_RECORDED = ("r", "lora_alpha", "lora_dropout", "target_modules", "base_model_name_or_path")
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def import_adapter(
    settings: Settings,
    folder: Path,
    domain: str | None = None,
    *,
    activate: bool = True,
    on_notice: Callable[[str], None] = print,
) -> tuple[AdapterVersion, list[Agreement]]:
    """Register ``folder`` as the next version of ``domain`` (default: the domain on its card) and export it."""
    require_extra("train", TRAIN_MODULES, "importing an adapter (its export is checked against PEFT)")
    folder = folder.expanduser().resolve()
    config = _peft_config(folder)
    card = _card_beside(folder)
    domain = check_domain_name(domain or (card.domain if card else _no_domain(folder)))
    base = resolve_base_model(settings, on_notice)
    if card is not None and card.base.weights_sha256 != base.identity.weights_sha256:
        raise UserError(
            f"{folder} was trained on {card.base.name} (weights sha256 {card.base.weights_sha256[:12]}…), "
            f"not on the base served here, {base.identity.name} ({base.identity.weights_sha256[:12]}…)"
        )
    registry = Registry(settings.adapters_dir)
    if (same := _registered_copy(registry, domain, folder)) is not None:  # `make demo` imports on every run
        on_notice(f"{folder} is already registered as {same.name}")
        return (registry.activate(same.name) if activate else same), []
    built = registry.new_build_dir(domain)
    try:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            shutil.copyfile(folder / name, built / name)
        if questions := _training_questions(folder):  # kept so eval can refuse sets it was trained on
            (built / TRAINING_QUESTIONS_FILE).write_text(json.dumps(questions, ensure_ascii=False, indent=0))
        new_card = _imported_card(domain, folder, config, card, base.identity)
        read_lora(AdapterVersion(built, new_card, active=False), resolve_gguf(settings))  # refuses what won't serve
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    adapter = registry.register(built, new_card, activate=activate)
    on_notice(f"registered {adapter.name} from {folder}")
    return export_adapter(settings, adapter, on_notice=on_notice)


def _peft_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    if not (folder / WEIGHTS_FILE).is_file():
        hint = " (it has adapter_model.bin: save with safetensors, peft's default)"
        raise UserError(f"{folder} has no {WEIGHTS_FILE}{hint if (folder / 'adapter_model.bin').is_file() else ''}")
    if not (folder / CONFIG_FILE).is_file():
        raise UserError(f"{folder} has no {CONFIG_FILE}: is it a PEFT adapter folder?")
    config = _read_json(folder / CONFIG_FILE)
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        kind = config.get("peft_type") if isinstance(config, dict) else None
        raise UserError(f"{folder} is a {kind or 'unknown'} adapter: only LoRA can be served by llama.cpp")
    return config


def _card_beside(folder: Path) -> AdapterCard | None:
    """Our own card, when the folder was written by ``adapters train`` (as the shipped samples are)."""
    path = folder / CARD_FILE
    if not path.is_file():
        return None
    try:
        return AdapterCard.model_validate_json(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValidationError) as err:
        raise UserError(f"{path} is not an adapter card: {str(err).splitlines()[0]}") from None


def _training_questions(folder: Path) -> list[str]:
    path = folder / TRAINING_QUESTIONS_FILE
    if not path.is_file():
        return []
    questions = _read_json(path)
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise UserError(f"{path} should be a JSON list of the questions it was trained on")
    return questions


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not valid JSON: {err}") from None


def _no_domain(folder: Path) -> NoReturn:
    raise UserError(f"{folder} carries no card naming its domain: give one with --domain")


def _registered_copy(registry: Registry, domain: str, folder: Path) -> AdapterVersion | None:
    """The version of ``domain`` whose weights are byte for byte the folder's, if any."""
    digest = _sha256(folder / WEIGHTS_FILE)
    return next((v for v in registry.versions(domain) if _sha256(v.path / WEIGHTS_FILE) == digest), None)


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _imported_card(
    domain: str, folder: Path, config: dict[str, Any], card: AdapterCard | None, base: BaseModelIdentity
) -> AdapterCard:
    """The folder's own card, re-homed; or one that says what is known of an adapter trained elsewhere."""
    if card is not None:
        return card.model_copy(update={"domain": domain, "version": 0, "eval": None, "exports": {}})
    return AdapterCard(
        domain=domain,
        created_at=datetime.now(UTC),
        method=f"LoRA r={config.get('r')} (imported)",
        base=base,
        dataset=DatasetInfo(path="(not recorded: trained elsewhere)", sha256="", examples=0, train=0, held_out=0),
        hyperparameters={key: config.get(key) for key in _RECORDED},
        train_loss=None,
        held_out_loss=None,
        steps=0,
        stopped_early=False,
        seconds=0.0,
        hardware={"imported_from": str(folder)},
    )
