"""The console scripts as a user runs them: JSON contract, batch form, one-line errors.

The end-to-end path and one error path run in new processes; the rest call the
same ``main`` in this process, so the models stay loaded between tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BIN, SAMPLES, invoke, run_cli


def _one_line_error(stderr: str, expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and expected in lines[0], stderr
    assert "Traceback" not in stderr


@pytest.mark.model
def test_ingest_then_ask_json_cites_the_expected_document(home: Path) -> None:
    ingest = run_cli("ingest", SAMPLES / "corpus" / "support", "--domain", "support", "--json", home=home)
    assert ingest.returncode == 0, ingest.stderr
    summary = ingest.json()
    assert summary["files_added"] == 8 and summary["files_failed"] == [] and summary["chunks_added"] > 8
    assert set(summary) == {
        "domain", "files_added", "files_updated", "files_unchanged", "files_removed",
        "files_failed", "chunks_added", "chunks_removed", "seconds",
    }  # fmt: skip

    ask = run_cli("assistant", "ask", "What does a blinking purple LED mean?", "--json", home=home)
    assert ask.returncode == 0, ask.stderr
    assert ask.stderr == ""  # nothing from llama.cpp or the loaders leaks onto the terminal
    answer = ask.json()
    assert {"question", "domain", "route", "adapter", "answer", "citations", "timings_ms"} <= set(answer)
    assert answer["domain"] == "support" and answer["adapter"] is None and answer["answer"]
    citations = answer["citations"]
    assert isinstance(citations, list) and citations
    assert {"n", "source", "title", "chunk_id", "score", "text"} <= set(citations[0])
    assert "led-status.html" in {c["source"] for c in citations}


def test_batch_retrieve_prints_one_result_per_line(sample_home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "How long is CCTV footage kept?"}\n\n'
        '{"question": "Guest Wi-Fi time limits", "domain": "support"}\n'
        '{"question": "Anything", "domain": "legal"}\n'
    )
    result = invoke("assistant", "retrieve", "--questions", questions, "-k", "2", home=sample_home)
    assert result.returncode == 1  # one question failed, the others were still answered
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("domain") for line in lines] == ["policy", "support", "legal"]
    assert lines[0]["citations"][0]["source"] == "data-retention.html" and len(lines[0]["citations"]) == 2
    assert "unknown domain 'legal'" in lines[2]["error"]


def test_bad_batch_line_is_reported_with_its_number(sample_home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "ok"}\n{"questin": "typo"}\n')
    result = invoke("assistant", "ask", "--questions", questions, home=sample_home)
    assert result.returncode == 2 and result.stdout == ""
    _one_line_error(result.stderr, "q.jsonl line 2: missing 'question'")


def test_missing_path_is_one_line_error(home: Path) -> None:
    result = run_cli("ingest", "/no/such/folder", "--domain", "support", home=home)
    assert result.returncode == 2
    _one_line_error(result.stderr, "path not found: /no/such/folder")
    assert not (home / "index").exists(), "a wrong path is reported before the index or a model is loaded"


def test_unknown_domain_is_one_line_error(sample_home: Path) -> None:
    result = invoke("assistant", "ask", "How do I reset?", "--domain", "legal", home=sample_home)
    assert result.returncode == 2
    _one_line_error(result.stderr, "unknown domain 'legal'; known domains: policy, support")


@pytest.mark.model
def test_empty_index_is_one_line_error(home: Path) -> None:
    result = invoke("assistant", "ask", "How do I reset?", home=home)
    assert result.returncode == 2
    _one_line_error(result.stderr, "the index is empty")


def test_damaged_files_are_one_line_naming_the_file(home: Path, tmp_path: Path) -> None:
    bad_text = tmp_path / "questions.jsonl"
    bad_text.write_bytes(b'{"question": "ok?"}\n{"question": "caf\xe9?"}\n')  # Latin-1, not UTF-8
    done = run_cli("assistant", "ask", "--questions", bad_text, home=home)
    assert (
        done.returncode == 2
        and done.stderr.strip() == f"error: {bad_text} line 2: not UTF-8 text (save the file as UTF-8)"
    )

    domain = home / "adapters" / "support"
    (domain / "v1").mkdir(parents=True)
    (domain / "state.json").write_text('{"active": 1')  # cut short by a crash
    done = run_cli("assistant", "adapters", "list", home=home)
    assert done.returncode == 2 and "state.json is damaged" in done.stderr and "Traceback" not in done.stderr


CRASHING_SCRIPT = """
from assistant.cli.console import run

def app():
    raise KeyError("nothing the code foresees")

run(app)
"""


def test_an_unforeseen_failure_is_one_line_and_its_traceback_goes_to_the_log(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_SCRIPT, "--home", str(home)], capture_output=True, text=True, check=False
    )
    log = home / "logs" / "errors.log"
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: KeyError: 'nothing the code foresees'") and str(log) in done.stderr
    assert "Traceback (most recent call last)" in log.read_text() and "Traceback" not in done.stderr


@pytest.mark.model
def test_failed_file_sets_exit_status_and_is_named(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA readable page.\n")
    (docs / "bad.txt").write_bytes(b"\x00\x01\x02binary")
    result = invoke("ingest", docs, "--domain", "misc", home=home)
    assert result.returncode == 1
    assert "bad.txt: binary content, not a text document" in result.stderr
    assert "misc: 1 added" in result.stdout


QUIET_SCRIPT = """
import logging, warnings
from assistant.cli.console import run

def app():
    # what bitsandbytes logs on import on a CPU with AVX512-BF16, and a library's deprecation warning
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning("Failed to load CPU gemm_4bit_forward")
    warnings.warn("a library's deprecation", FutureWarning)
    chatty = logging.getLogger("bm25s")  # a library that sets its own logger's level
    chatty.setLevel(logging.DEBUG)
    chatty.debug("Building index from tokens")
    print("the answer")

run(app)
"""


def test_library_warnings_stay_off_the_terminal_unless_verbose() -> None:
    quiet = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True, check=True)
    assert quiet.stdout == "the answer\n" and quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", QUIET_SCRIPT, "--verbose"], capture_output=True, text=True)
    assert loud.stdout == "the answer\n"
    assert "gemm_4bit_forward" in loud.stderr and "a library's deprecation" in loud.stderr
    assert "Building index" not in quiet.stderr + loud.stderr  # debug lines stay out even with --verbose


@pytest.mark.parametrize(
    ("command", "args", "shown"),
    [
        ("assistant", ["serve", "--help"], "Answers keep their [n] markers"),
        ("assistant", ["ask", "--help"], "Answer a question with citations"),
        ("ingest", ["add", "--help"], "--domain"),
    ],
)
def test_help_explains_each_command_as_written(command: str, args: list[str], shown: str, tmp_path: Path) -> None:
    """Help goes through rich markup: a literal [n] in a docstring must not vanish as an unknown tag."""
    result = invoke(command, *args, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert shown in " ".join(result.stdout.split())


def test_the_web_app_serves_beyond_this_machine_only_with_a_login(tmp_path: Path) -> None:
    refused = invoke("assistant", "ui", "--host", "0.0.0.0", home=tmp_path)
    assert refused.returncode == 2
    _one_line_error(refused.stderr, "no login is configured, so the app serves 127.0.0.1 only")
    (tmp_path / "config.toml").write_text('[login]\nmode = "oidc"\nclient_id = "app"\n')
    incomplete = invoke("assistant", "ui", "--host", "0.0.0.0", home=tmp_path)
    assert incomplete.returncode == 2 and "oidc login needs server_metadata_url" in incomplete.stderr


def test_password_hash_prints_an_argon2_hash_that_the_login_accepts(tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    done = subprocess.run(
        [str(BIN / "assistant"), "password-hash"],
        input="correct horse battery\ncorrect horse battery\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ASSISTANT_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip().splitlines()[-1]
    assert hashed.startswith("$argon2id$") and "correct horse" not in done.stdout + done.stderr
    assert PasswordHasher().verify(hashed, "correct horse battery")


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (("assistant", "adapters", "import", SAMPLES / "adapters" / "support"), "train"),
        (("assistant", "ui"), "ui"),
    ],
)
def test_a_feature_whose_extra_is_not_installed_says_which_to_install(
    home: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], extra: str
) -> None:
    """As on a base install (`pip install domain-assistant`): one line that names the extra, nothing registered."""
    import importlib.util

    found = importlib.util.find_spec
    hidden = {"peft", "accelerate", "streamlit"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else found(name, *a))
    result = invoke(*command, home=home)
    assert result.returncode == 2
    _one_line_error(result.stderr, f"pip install 'domain-assistant[{extra}]'")
    assert not (home / "adapters").exists()
