"""Fixtures on the real parts: a real Chroma in a temp data home, the real MiniLM, the real Gemma GGUF.

Models are loaded once per test session (the embedder is cached per process),
and the 253 MB Gemma file is assembled once into a shared models folder that
every test home links to.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from playwright.sync_api import Browser

from adapters.base_model import BaseCheckpoint, BaseModelIdentity, load_causal_lm, resolve_base_model
from adapters.registry import AdapterCard, AdapterVersion, DatasetInfo, Registry
from assistant.core.config import load_settings
from assistant.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SAMPLE_DOMAINS = ("support", "policy")
BIN = Path(sys.executable).parent


# The fast lane (`make test-fast`, pytest -m "not model") runs every test that needs no model. A test is in the
# model lane when it asks for a fixture that loads one, or is marked; in the fast lane, a model load that slipped
# through fails the test with its name, so the lane stays fast without anyone remembering to check.
MODEL_FIXTURES = frozenset(
    {"runtime", "sample_home", "sample_runtime", "embedder", "hf_base", "tiny_base", "served_home"}
)
FAST_LANE = "ASSISTANT_TESTS_WITHOUT_MODELS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _no_model_in_the_fast_lane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get(FAST_LANE) or request.node.get_closest_marker("model"):
        return
    import llama_cpp

    from ingest.embedder import Embedder

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{request.node.nodeid} loads a model: mark it @pytest.mark.model")

    monkeypatch.setattr(Embedder, "__init__", refuse)
    monkeypatch.setattr(llama_cpp.Llama, "__init__", refuse)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _new_home(root: Path, models_dir: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "models").symlink_to(models_dir, target_is_directory=True)
    return root


def home_sharing(root: Path, source: Path, *names: str) -> Path:
    """A new data home at ``root`` whose ``names`` (e.g. models, index) are the source home's, linked, not copied:
    only what the test writes elsewhere (adapters, conversations) is its own."""
    root.mkdir(parents=True)
    for name in names:
        (root / name).symlink_to((source / name).resolve(), target_is_directory=True)
    return root


@pytest.fixture
def home(tmp_path: Path, models_dir: Path) -> Path:
    """An empty data home of the test's own."""
    return _new_home(tmp_path / "home", models_dir)


@pytest.fixture
def runtime(home: Path) -> Iterator[Runtime]:
    yield Runtime(load_settings(home=home))


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A data home with the sample corpus ingested; tests must not change it."""
    home = _new_home(tmp_path_factory.mktemp("sample") / "home", models_dir)
    runtime = Runtime(load_settings(home=home))
    for domain in SAMPLE_DOMAINS:
        summary = runtime.ingest([SAMPLES / "corpus" / domain], domain)
        assert not summary.files_failed, summary.files_failed
    runtime.manifest.close()
    return home


@pytest.fixture(scope="session")
def sample_runtime(sample_home: Path) -> Runtime:
    return Runtime(load_settings(home=sample_home))


def sample_questions() -> list[dict[str, Any]]:
    lines = (SAMPLES / "questions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The command's ``--json`` output: a JSON object, whatever its values."""
        return json.loads(self.stdout)


def invoke(command: str, *args: str | Path, home: Path) -> CliResult:
    """Run a console script's ``main`` in this process (models stay loaded); same contract as ``run_cli``."""
    from assistant.cli.ingest import main as ingest_main
    from assistant.cli.main import main as assistant_main

    main = {"assistant": assistant_main, "ingest": ingest_main}[command]
    out, err = io.StringIO(), io.StringIO()
    argv = [command, *map(str, args), "--home", str(home)]
    with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def run_cli(command: str, *args: str | Path, home: Path, env: dict[str, str] | None = None) -> CliResult:
    """Run an installed console script in a new process, as a user would."""
    full_env = {**os.environ, "ASSISTANT_HOME": str(home), **(env or {})}
    done = subprocess.run(
        [str(BIN / command), *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def hf_base(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> BaseCheckpoint:
    """The offline default training base: the Gemma GGUF converted once to transformers (shared models folder)."""
    home = _new_home(tmp_path_factory.mktemp("convert") / "home", models_dir)
    return resolve_base_model(load_settings(home=home))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, hf_base: BaseCheckpoint) -> Path:
    """A 2-layer, 32-wide Gemma 3 with the real tokenizer and random weights, for many-step training tests."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    path = tmp_path_factory.mktemp("tiny-gemma3")
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=262_144,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        layer_types=["sliding_attention", "full_attention"],
        sliding_window=64,
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
    )
    Gemma3ForCausalLM(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(hf_base.path).save_pretrained(path)
    return path


def register_random_adapter(
    home: Path,
    base: BaseCheckpoint,
    domain: str,
    *,
    std: float = 0.01,
    seed: int = 0,
    targets: tuple[str, ...] = ("q_proj", "v_proj", "down_proj"),
    modules_to_save: list[str] | None = None,
) -> AdapterVersion:
    """A LoRA adapter with random (non-zero) B matrices, registered like a trained one: its effect is known
    to be large, so export checks have something to detect. Training is tested on its own."""
    import torch
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        load_causal_lm(base.path),
        LoraConfig(r=8, lora_alpha=16, target_modules=list(targets), modules_to_save=modules_to_save),
    )
    torch.manual_seed(seed)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=std)
    registry = Registry(load_settings(home=home).adapters_dir)
    built = registry.new_build_dir(domain)
    model.save_pretrained(str(built))
    return registry.register(built, make_card(domain, base.identity))


@pytest.fixture(scope="session")
def served_home(tmp_path_factory: pytest.TempPathFactory, sample_home: Path, hf_base: BaseCheckpoint) -> Path:
    """The sample index with one exported adapter per sample domain, strong enough (B ~ N(0, 0.05)) to change
    greedy answers. Tests may add adapters to it but must not change these two."""
    from adapters.training.export import export_adapter

    home = home_sharing(tmp_path_factory.mktemp("served") / "home", sample_home, "models", "index")
    settings = load_settings(home=home)
    for seed, domain in enumerate(SAMPLE_DOMAINS, start=1):
        adapter = register_random_adapter(home, hf_base, domain, std=0.05, seed=seed)
        export_adapter(settings, adapter, check=False, on_notice=lambda _: None)
    return home


def make_card(domain: str, base: BaseModelIdentity, **fields: object) -> AdapterCard:
    values: dict[str, object] = {
        "domain": domain,
        "created_at": datetime.now(UTC),
        "method": "random (test)",
        "base": base,
        "dataset": DatasetInfo(path="-", sha256="-", examples=0, train=0, held_out=0),
        "hyperparameters": {},
        "train_loss": 0.0,
        "held_out_loss": 0.0,
        "steps": 0,
        "stopped_early": False,
        "seconds": 0.0,
        "hardware": {},
    }
    return AdapterCard.model_validate({**values, **fields})


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, launched once for every browser test."""
    from tests.browser import chromium

    with chromium() as launched:
        yield launched
