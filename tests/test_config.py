"""The config schema: defaults < TOML file < environment < CLI flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASSISTANT_HOME", "ASSISTANT_CONFIG_FILE", "ASSISTANT_RETRIEVAL__K", "ASSISTANT_LLM__N_CTX"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.home == tmp_path.resolve()
    assert settings.llm.backend == "llamacpp"
    assert settings.llm.gguf is None and settings.embedding.model is None  # the offline defaults
    assert settings.index_dir == tmp_path.resolve() / "index"


def test_each_source_overrides_the_one_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("[retrieval]\nk = 7\n[llm]\nn_ctx = 2048\nmax_tokens = 99\n")
    from_file = load_settings(home=tmp_path)
    assert (from_file.retrieval.k, from_file.llm.n_ctx, from_file.llm.max_tokens) == (7, 2048, 99)

    monkeypatch.setenv("ASSISTANT_RETRIEVAL__K", "3")
    from_env = load_settings(home=tmp_path)
    assert (from_env.retrieval.k, from_env.llm.n_ctx) == (3, 2048)

    from_flags = load_settings(home=tmp_path, retrieval={"k": 9})
    assert from_flags.retrieval.k == 9


def test_home_from_environment_finds_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("[retrieval]\nk = 4\n")
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.home == tmp_path.resolve() and settings.retrieval.k == 4


def test_explicit_config_file(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("[retrieval]\nk = 2\n")
    assert load_settings(home=tmp_path, config_file=config).retrieval.k == 2


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[retrieval]\nk = 0\n", "retrieval.k"),
        ("[llm]\nbackend = 'gpt'\n", "llm.backend"),
        ("[retrievl]\nk = 3\n", "retrievl"),
    ],
)
def test_wrong_config_names_the_field(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(UserError, match=message):
        load_settings(home=tmp_path)


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="config file not found"):
        load_settings(home=tmp_path, config_file=tmp_path / "nope.toml")


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[retrieval\nk = 3\n")
    with pytest.raises(UserError, match=r"cannot read .*config\.toml"):
        load_settings(home=tmp_path)


def test_an_override_is_validated_and_reads_nothing_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("[retrieval]\nk = 4\n[training]\nmax_steps = 9\n")
    monkeypatch.setenv("ASSISTANT_LLM__N_CTX", "4096")
    settings = load_settings(home=tmp_path)
    (tmp_path / "config.toml").write_text("[retrieval]\nk = 12\n")  # changed on disk after the process read it
    monkeypatch.setenv("ASSISTANT_LLM__N_CTX", "1024")

    changed = settings.with_overrides(retrieval={"k": 8}, training={"epochs": 2.0})
    assert (changed.retrieval.k, changed.training.epochs, changed.training.max_steps) == (8, 2.0, 9)
    assert changed.llm.n_ctx == 4096 and changed.home == settings.home
    assert settings.retrieval.k == 4, "the settings it was made from are unchanged"
    with pytest.raises(UserError, match=r"invalid configuration: retrieval\.k: Input should be less than or equal"):
        settings.with_overrides(retrieval={"k": 500})
    with pytest.raises(UserError, match=r"retrieval\.top_k: Extra inputs are not permitted"):
        settings.with_overrides(retrieval={"top_k": 3})
