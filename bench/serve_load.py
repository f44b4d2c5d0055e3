"""`assistant serve` under load: requests/s and time to first token at several numbers of concurrent clients,
beside the same questions answered one after another by an in-process ``Runtime``, in one run.

    .venv/bin/python bench/serve_load.py --home DIR [--clients 1,8,32] [--requests 32]

DIR must hold an index (e.g. the sample corpus after `make demo`). The server runs in its own process with a
queue deep enough for every client (``serve.max_queue``), so the figures are of queueing, not of refusals.
At each level, that many threads stream ``--requests`` questions between them (the sample questions, in
turn), each over its own connection. The in-process baseline runs first, alone, and the server is started
after it: two model processes at work at once on a small machine measure each other, not themselves.

Reports, as JSON: per level, requests/s, p50/p95 time to first token and p50 total time; and the ratio of
requests/s to the in-process baseline (one model answers one request at a time, so ~1 is the ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from assistant.core.config import load_settings
from assistant.runtime import Runtime

BIN = Path(sys.executable).parent
QUESTIONS = Path(__file__).resolve().parents[1] / "samples" / "questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--clients", default="1,8,32", help="Comma-separated numbers of concurrent clients.")
    parser.add_argument("--requests", type=int, default=32, help="Requests at each level.")
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    asked = [questions[i % len(questions)] for i in range(args.requests)]

    baseline = _in_process(args.home, asked)
    report: dict[str, object] = {"requests": args.requests, "in_process": baseline, "served": {}}
    with _served(args.home, max_queue=max(levels) + 1) as url:
        _stream(url, asked[0])  # warm-up: the first request loads what the server loads lazily
        for clients in levels:
            level = _load(url, asked, clients)
            level["ratio_to_in_process"] = round(level["requests_per_s"] / baseline["requests_per_s"], 2)
            report["served"][str(clients)] = level  # type: ignore[index]
    print(json.dumps(report, indent=2))


def _in_process(home: Path, asked: list[str]) -> dict[str, float]:
    """The same questions, one after another, through the graph in this process (after one warm-up)."""
    runtime = Runtime(load_settings(home=home))
    runtime.ask(asked[0])
    first_tokens, totals = [], []
    started = time.perf_counter()
    for question in asked:
        began = time.perf_counter()
        first: list[float] = []

        def on_token(_: str, began: float = began, first: list[float] = first) -> None:
            if not first:
                first.append(time.perf_counter() - began)

        runtime.ask(question, on_token=on_token)
        first_tokens.append(first[0] if first else time.perf_counter() - began)  # a refusal streams nothing
        totals.append(time.perf_counter() - began)
    return _figures(len(asked), time.perf_counter() - started, first_tokens, totals)


def _load(url: str, asked: list[str], clients: int) -> dict[str, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        timed = list(pool.map(lambda q: _stream(url, q), asked))
    return _figures(len(asked), time.perf_counter() - started, [t for t, _ in timed], [t for _, t in timed])


def _stream(url: str, question: str) -> tuple[float, float]:
    """(time to the first content chunk, total time) of one streamed request."""
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": question}]}
    began, first = time.perf_counter(), None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=3600) as reply:
        reply.raise_for_status()  # a 429 would mean the queue was sized wrong: fail, don't time it
        for line in reply.iter_lines():
            if first is not None or not line.startswith("data: {"):
                continue
            event = json.loads(line.removeprefix("data: "))
            if "error" in event:
                raise SystemExit(f"the server failed {question!r}: {event['error']}")
            if event["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - began
    total = time.perf_counter() - began
    return (first if first is not None else total), total


def _figures(requests: int, seconds: float, first_tokens: list[float], totals: list[float]) -> dict[str, float]:
    ordered = sorted(first_tokens)
    return {
        "requests_per_s": round(requests / seconds, 3),
        "first_token_p50_s": round(statistics.median(ordered), 2),
        "first_token_p95_s": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        "total_p50_s": round(statistics.median(totals), 2),
    }


@contextmanager
def _served(home: Path, max_queue: int) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ASSISTANT_SERVE__MAX_QUEUE": str(max_queue)}
    command = [str(BIN / "assistant"), "serve", "--port", str(port), "--home", str(home)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("assistant serve did not come up")
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
