"""Versioned adapters per domain in the data home, each with its adapter card.

Layout (owned here and nowhere else)::

    <home>/adapters/<domain>/v<N>/       adapter_model.safetensors, adapter_config.json, card.json, exports,
                                         training_questions.json (kept out of eval sets)
    <home>/adapters/<domain>/state.json  {"active": N, "history": [...]}: one active version, rollback order

A version directory appears by an atomic rename, so a killed training never
leaves half an adapter registered; ``state.json`` is replaced atomically too.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from adapters.base_model import BaseModelIdentity
from assistant.core.errors import UserError
from assistant.core.files import write_atomic

Record = TypeVar("Record", bound=BaseModel)

CARD_FILE = "card.json"
TRAINING_QUESTIONS_FILE = "training_questions.json"
_STATE_FILE = "state.json"
_SPEC = re.compile(r"^(?P<domain>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<version>\d+))?$")


class DatasetInfo(BaseModel):
    path: str
    sha256: str
    examples: int
    train: int
    held_out: int


class AdapterCard(BaseModel):
    """Everything needed to trust, reproduce or refuse an adapter."""

    domain: str
    version: int = 0  # set on registration
    created_at: datetime
    method: str = Field(description="'QLoRA (4-bit NF4 base)' on CUDA, 'LoRA (fp32 base)' otherwise.")
    base: BaseModelIdentity
    dataset: DatasetInfo
    hyperparameters: dict[str, Any]
    train_loss: float | None = Field(description="None for an adapter imported without its training record.")
    held_out_loss: float | None
    steps: int
    stopped_early: bool
    seconds: float
    hardware: dict[str, Any]
    eval: dict[str, Any] | None = None
    exports: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return f"{self.domain}@{self.version}"


class _State(BaseModel):
    active: int | None = None
    history: list[int] = []  # activations, oldest first; rollback pops the last


@dataclass(frozen=True)
class AdapterVersion:
    path: Path
    card: AdapterCard
    active: bool

    @property
    def name(self) -> str:
        return self.card.name


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``"policy"`` → ("policy", None) meaning the active version; ``"policy@2"`` → ("policy", 2)."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise UserError(f"not an adapter name: {spec!r} (expected DOMAIN or DOMAIN@VERSION)")
    version = match["version"]
    return match["domain"], int(version) if version else None


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def domains(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if (p / _STATE_FILE).is_file())

    def versions(self, domain: str) -> list[AdapterVersion]:
        state = self._state(domain)
        found = []
        for path in self._version_dirs(domain):
            card = _read(AdapterCard, path / CARD_FILE)
            found.append(AdapterVersion(path, card, card.version == state.active))
        return found

    def get(self, spec: str) -> AdapterVersion:
        """The adapter a user names: ``DOMAIN`` (its active version) or ``DOMAIN@VERSION``."""
        domain, version = parse_spec(spec)
        versions = {v.card.version: v for v in self.versions(domain)}
        if not versions:
            raise UserError(f"no adapters for domain '{domain}': train one with `assistant adapters train`")
        if version is None:
            version = self._state(domain).active
            if version is None:
                raise UserError(f"domain '{domain}' has no active adapter: activate one of {sorted(versions)}")
        if version not in versions:
            raise UserError(f"no adapter {domain}@{version}; versions: {', '.join(map(str, sorted(versions)))}")
        return versions[version]

    def active(self, domain: str) -> AdapterVersion | None:
        state = self._state(domain)
        return self.get(f"{domain}@{state.active}") if state.active is not None else None

    def register(self, built: Path, card: AdapterCard, *, activate: bool = True) -> AdapterVersion:
        """Move a finished adapter folder into the registry as the domain's next version."""
        with self._locked(card.domain):
            version = max((int(p.name[1:]) for p in self._version_dirs(card.domain)), default=0) + 1
            card = card.model_copy(update={"version": version})
            (built / CARD_FILE).write_text(card.model_dump_json(indent=2))
            target = self.root / card.domain / f"v{version}"
            os.replace(built, target)
            state = self._state(card.domain)
            if activate or state.active is None:
                state = _State(active=version, history=[*state.history, version])
            self._write_state(card.domain, state)
        return self.get(card.name)

    def save_card(
        self, adapter: AdapterVersion, *, exports: dict[str, Any] | None = None, **updates: Any
    ) -> AdapterVersion:
        """Record results that come after training on the card as it is on disk now, under the domain's lock:
        ``exports`` are added to those recorded (another export may have added its own since ``adapter`` was
        read), other fields replaced."""
        with self._locked(adapter.card.domain):
            card = _read(AdapterCard, adapter.path / CARD_FILE)
            if exports:
                updates["exports"] = {**card.exports, **exports}
            card = card.model_copy(update=updates)
            write_atomic(adapter.path / CARD_FILE, card.model_dump_json(indent=2))
        return AdapterVersion(adapter.path, card, adapter.active)

    def activate(self, spec: str) -> AdapterVersion:
        adapter = self.get(spec)
        with self._locked(adapter.card.domain):
            state = self._state(adapter.card.domain)
            if state.active != adapter.card.version:
                history = [*state.history, adapter.card.version]
                self._write_state(adapter.card.domain, _State(active=adapter.card.version, history=history))
        return self.get(adapter.name)

    def rollback(self, domain: str) -> AdapterVersion:
        """Make the previously active version active again."""
        with self._locked(domain):
            state = self._state(domain)
            existing = {v.card.version for v in self.versions(domain)}
            history = [v for v in state.history if v in existing]
            while history and history[-1] == state.active:
                history.pop()
            if not history:
                raise UserError(f"domain '{domain}' has no earlier active adapter to roll back to")
            self._write_state(domain, _State(active=history[-1], history=history))
        return self.get(f"{domain}@{history[-1]}")

    def delete(self, spec: str) -> AdapterVersion:
        domain, version = parse_spec(spec)
        if version is None:
            raise UserError("name the version to delete, e.g. policy@2")
        with self._locked(domain):  # "active" is read under the lock that activate and rollback take
            adapter = self.get(spec)
            if adapter.active:
                raise UserError(f"{adapter.name} is the active adapter: activate or roll back to another version first")
            trash = adapter.path.with_name(f".deleting-{adapter.path.name}")
            os.replace(adapter.path, trash)  # gone from the registry at once, even if removal is interrupted
            shutil.rmtree(trash)
        return adapter

    def new_build_dir(self, domain: str) -> Path:
        """A private folder to build a version in; ``register`` moves it into place."""
        (self.root / domain).mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = self.root / domain / f".building-{stamp}"
        path.mkdir()
        return path

    def _version_dirs(self, domain: str) -> list[Path]:
        dirs = [p for p in (self.root / domain).glob("v*") if p.name[1:].isdigit() and (p / CARD_FILE).is_file()]
        return sorted(dirs, key=lambda p: int(p.name[1:]))

    def _state(self, domain: str) -> _State:
        path = self.root / domain / _STATE_FILE
        return _read(_State, path) if path.is_file() else _State()

    def _write_state(self, domain: str, state: _State) -> None:
        write_atomic(self.root / domain / _STATE_FILE, state.model_dump_json())

    @contextmanager
    def _locked(self, domain: str) -> Iterator[None]:
        """Two trainings of one domain finishing together must not take the same version number."""
        (self.root / domain).mkdir(parents=True, exist_ok=True)
        with (self.root / domain / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _read(model: type[Record], path: Path) -> Record:
    """A registry file, or one line saying which file is damaged (a crash mid-write, a hand edit)."""
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise UserError(
            f"{path} is damaged ({err.errors()[0]['msg']}): restore it, or delete that adapter folder"
        ) from None
