"""Instruct models get their prompts through their own chat template, rendered to the same tokens by llama.cpp
in-process, by transformers (the hf backend and training) and by an OpenAI-compatible server's chat endpoint.

The model is the default Gemma 3 270M with Gemma 3's published chat template (google/gemma-3-*-it,
tokenizer_config.json; ``tests/templates/gemma3.jinja``) written into a copy of its GGUF; Gemma 2's
(google/gemma-2-*-it; ``gemma2.jinja``), which refuses a system turn, is the template without one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openai
import pytest

from adapters.base_model import BaseCheckpoint, resolve_base_model
from adapters.prompt_tokens import prompt_ids
from adapters.training.raft import RaftExample
from adapters.training.train import IGNORE, tokenize
from assistant.backends.hf import HFBackend
from assistant.backends.llamacpp import LlamaCppBackend
from assistant.backends.openai import OpenAIBackend
from assistant.core.config import Settings, load_settings
from assistant.core.models import resolve_gguf
from assistant.core.prompts import INSTRUCTIONS, Prompt, build_prompt
from assistant.runtime import Runtime

from .conftest import sample_questions
from .servers import llama_cpp_server
from .test_backend_openai import served_like_in_process

TEMPLATES = Path(__file__).parent / "templates"
pytestmark = pytest.mark.model


def with_template(gguf: Path, template: Path, out: Path) -> Path:
    """A copy of ``gguf``, its weights untouched, with ``template`` as its chat template."""
    write = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--chat-template-file", str(template), "--force"]
    subprocess.run([*write, str(gguf), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def templated_gguf(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Path:
    default = resolve_gguf(load_settings(home=sample_home))
    return with_template(default, TEMPLATES / "gemma3.jinja", tmp_path_factory.mktemp("gemma3") / "gemma3-it.gguf")


def _settings(home: Path, gguf: Path, **llm: object) -> Settings:
    return load_settings(home=home, llm={"gguf": str(gguf), "max_tokens": 24, "n_threads": 1, **llm})


@pytest.fixture(scope="module")
def templated_base(sample_home: Path, templated_gguf: Path) -> BaseCheckpoint:
    """The templated GGUF converted to transformers, as training and the hf backend load it."""
    return resolve_base_model(_settings(sample_home, templated_gguf))


@pytest.fixture(scope="module")
def prompt(sample_runtime: Runtime) -> Prompt:
    """A served prompt: a sample question over the passages retrieval gives it."""
    question = str(sample_questions()[0]["question"])
    return build_prompt(question, sample_runtime.retrieve(question).citations[:2])


@pytest.fixture(scope="module")
def in_process(sample_home: Path, templated_gguf: Path) -> LlamaCppBackend:
    settings = _settings(sample_home, templated_gguf)
    return LlamaCppBackend(templated_gguf, settings.llm, settings.models_dir)


def test_the_template_renders_the_instructions_passages_and_question_as_a_user_turn(
    in_process: LlamaCppBackend, prompt: Prompt
) -> None:
    tokens = in_process.prompt_tokens(prompt)
    text = bytes(in_process._llm.detokenize(tokens, special=True)).decode()
    # Gemma 3's template has no system turn: it folds the instructions into the user turn itself.
    assert text == f"<bos><start_of_turn>user\n{INSTRUCTIONS}\n\n{prompt.request}<end_of_turn>\n<start_of_turn>model\n"
    assert tokens.count(in_process._llm.token_bos()) == 1, "the template places BOS; nothing adds another"
    assert "Answer:" not in text, "the raw format's cue is not part of a chat"


def test_a_gguf_without_a_template_keeps_the_raw_format(sample_runtime: Runtime, prompt: Prompt) -> None:
    backend = sample_runtime.backend
    assert isinstance(backend, LlamaCppBackend) and backend._template is None
    tokens = backend.prompt_tokens(prompt)
    assert bytes(backend._llm.detokenize(tokens, special=True)).decode() == f"<bos>{prompt.text}"


def test_transformers_and_training_render_the_same_tokens_as_llama_cpp(
    in_process: LlamaCppBackend, templated_base: BaseCheckpoint, sample_home: Path, templated_gguf: Path, prompt: Prompt
) -> None:
    from transformers import AutoTokenizer

    served = in_process.prompt_tokens(prompt)
    hf = HFBackend(_settings(sample_home, templated_gguf, backend="hf"))
    assert hf.base.path == templated_base.path, "the hf backend serves the conversion of the templated GGUF"
    assert hf.prompt_tokens(prompt) == served

    tokenizer = AutoTokenizer.from_pretrained(templated_base.path)
    example = tokenize(RaftExample(prompt, "Hold the reset pinhole for ten seconds [1]."), tokenizer)
    assert example["input_ids"][: len(served)] == served, "training's context is the served prompt, token for token"
    answer = [t for t in example["labels"] if t != IGNORE]
    assert example["input_ids"][len(served) :] == answer
    assert tokenizer.decode(answer) == "Hold the reset pinhole for ten seconds [1].<end_of_turn>\n", (
        "the model learns to end its turn as the template ends it"
    )


def test_the_chat_endpoint_of_a_server_reads_the_same_prompt_and_answers_the_same(
    in_process: LlamaCppBackend,
    sample_home: Path,
    templated_gguf: Path,
    prompt: Prompt,
    tmp_path: Path,
) -> None:
    settings = _settings(sample_home, templated_gguf)
    local = "".join(in_process.stream(prompt))
    model = {**served_like_in_process(templated_gguf, settings), "model_alias": "base"}
    with llama_cpp_server([model], tmp_path) as url:
        reply = openai.OpenAI(base_url=url, api_key="none").chat.completions.create(
            model="base",
            messages=prompt.messages(),  # type: ignore[arg-type]  # dicts of the documented shape
            max_tokens=1,
        )
        assert reply.usage is not None and reply.usage.prompt_tokens == len(in_process.prompt_tokens(prompt))
        served = OpenAIBackend(_settings(sample_home, templated_gguf, openai={"base_url": url, "chat": True}).llm)
        remote = "".join(served.stream(prompt))
    assert local.strip() and remote == local, "same tokens in, same greedy answer out"


def test_a_template_without_a_system_turn_gets_the_instructions_in_the_user_turn_alike(
    sample_home: Path, hf_base: BaseCheckpoint, prompt: Prompt, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    settings = load_settings(home=sample_home)
    template = TEMPLATES / "gemma2.jinja"
    gguf = with_template(resolve_gguf(settings), template, tmp_path / "gemma2-it.gguf")
    llama = LlamaCppBackend(gguf, settings.llm, settings.models_dir)
    tokens = llama.prompt_tokens(prompt)
    text = bytes(llama._llm.detokenize(tokens, special=True)).decode()
    assert text == f"<bos><start_of_turn>user\n{INSTRUCTIONS}\n\n{prompt.request}<end_of_turn>\n<start_of_turn>model\n"

    tokenizer = AutoTokenizer.from_pretrained(hf_base.path)
    tokenizer.chat_template = template.read_text()
    assert prompt_ids(tokenizer, prompt) == tokens, "transformers folds the instructions the same way"
