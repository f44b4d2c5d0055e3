"""Cold start: a new `assistant ask` process to its first answer token, beside a bare llama-cpp-python script.

    .venv/bin/python bench/cold_start.py --home DIR [--question Q] [--runs 3]

DIR must hold an index (e.g. the sample corpus after `make demo`). Each run starts new processes,
one after the other, never two at once:

- ``bare``: a script that imports llama-cpp-python, loads the same GGUF with the backend's settings
  and streams a completion of the exact prompt ``ask`` serves (its question over its passages);
- ``ask``: ``assistant ask QUESTION`` as a user types it (routing, retrieval, grading, the domain's
  adapter when it has one);
- ``ask_base``: the same with ``--adapter none``, to separate the adapter's loading from the rest;
- ``ask_served``: ``assistant ask QUESTION`` with ``client.url`` naming an `assistant serve` on 127.0.0.1,
  started before the rounds (round 0 warms it too): the new process loads no model or index.

The time is from process start to the first byte of the answer on stdout. A warm-up round of each
is not counted (it fills the page cache). Reports, as JSON, the median of each over ``--runs`` and
its ratio to ``bare`` (goal: ``ask`` within 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.core.config import load_settings
from assistant.core.models import resolve_gguf
from assistant.core.prompts import STOP_SEQUENCES, build_prompt
from assistant.runtime import Runtime

BIN = Path(sys.executable).parent
BARE = """
import sys
from llama_cpp import Llama
gguf, prompt_file, stops = sys.argv[1], sys.argv[2], sys.argv[6:]
n_ctx, n_threads, max_tokens = map(int, sys.argv[3:6])
llm = Llama(model_path=gguf, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
prompt = open(prompt_file).read()
for part in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stop=stops, stream=True):
    sys.stdout.write(part["choices"][0]["text"])
    sys.stdout.flush()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--question", default="How do I reset the N300?")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(home=args.home)
    found = Runtime(settings).retrieve(args.question)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as prompt_file:
        prompt_file.write(build_prompt(found.question, found.citations).text)
    llm = settings.llm
    commands = {
        "bare": [
            sys.executable,
            "-c",
            BARE,
            str(resolve_gguf(settings)),
            prompt_file.name,
            str(llm.n_ctx),
            str(llm.n_threads or os.cpu_count() or 1),
            str(llm.max_tokens),
            *STOP_SEQUENCES,
        ],
        "ask": [str(BIN / "assistant"), "ask", args.question, "--home", str(args.home)],
        "ask_base": [str(BIN / "assistant"), "ask", args.question, "--adapter", "none", "--home", str(args.home)],
        "ask_served": [str(BIN / "assistant"), "ask", args.question, "--home", str(args.home)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    with _served(args.home) as url:
        through_server = {**os.environ, "ASSISTANT_CLIENT__URL": url}
        for round_ in range(args.runs + 1):
            for name, command in commands.items():
                elapsed = _first_byte_s(command, through_server if name == "ask_served" else None)
                if round_:  # round 0 warms the page cache (and the server)
                    times[name].append(elapsed)
    medians = {name: round(statistics.median(values), 2) for name, values in times.items()}
    report = {
        "question": args.question,
        "runs": args.runs,
        "first_token_s": medians,
        "ratio_to_bare": {name: round(value / medians["bare"], 2) for name, value in medians.items()},
        "all_s": {name: [round(v, 2) for v in values] for name, values in times.items()},
    }
    Path(prompt_file.name).unlink()
    print(json.dumps(report, indent=2))


@contextmanager
def _served(home: Path) -> Iterator[str]:
    """An `assistant serve` on ``home``, up and idle (it answers nothing while the other commands run)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "assistant"), "serve", "--port", str(port), "--home", str(home)], stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("assistant serve did not come up")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _first_byte_s(command: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds from starting ``command`` to its first non-blank byte on stdout; the process then finishes."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0, env=env)
    assert process.stdout is not None
    while (byte := process.stdout.read(1)) and byte.isspace():
        pass
    elapsed = time.perf_counter() - started
    process.stdout.read()
    if process.wait() != 0 or not byte:
        raise SystemExit(f"{command[0]} failed or printed nothing")
    return elapsed


if __name__ == "__main__":
    main()
