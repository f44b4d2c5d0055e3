"""Real servers on 127.0.0.1 for the tests: ``python -m llama_cpp.server``, ``chroma run`` and ``assistant serve``.

Each is a context manager that yields the server's URL once it answers, and stops the process after."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 120
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with status {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"llama_cpp.server did not answer {url}/models within {STARTUP_TIMEOUT_S}s; log: {log}")


@contextmanager
def llama_cpp_server(models: list[dict[str, Any]], folder: Path) -> Iterator[str]:
    """The server's /v1 URL, serving ``models`` (its config's entries). Its config and log stay in ``folder``."""
    port = free_port()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "interrupt_requests": False,  # its default cuts a streaming answer short when another request arrives
        "models": models,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--config_file", str(folder / "config.json")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chroma_server(folder: Path, port: int | None = None) -> Iterator[str]:
    """``chroma run`` storing its data in ``folder`` (on ``port``, to restart one where it was)."""
    port = port or free_port()
    command = [str(BIN / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    with _running(command, port, "chroma server") as url:
        yield url


NGINX = Path("/usr/sbin/nginx")  # Debian's nginx-light, installed by `make test`


@contextmanager
def token_proxy(upstream: str, token: str, folder: Path) -> Iterator[str]:
    """nginx on 127.0.0.1 in front of ``upstream``, letting through only requests that carry ``token`` as
    ``Authorization: Bearer``: what the README tells a team to put before `chroma run`, which checks none."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    worker = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""  # its workers write the temp folders here
    config.write_text(
        f"daemon off; {worker} pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        "events {}\n"
        f"http {{ access_log off; {temp} client_max_body_size 100m;\n"
        f"  server {{ listen 127.0.0.1:{port};\n"
        f'    location / {{ if ($http_authorization != "Bearer {token}") {{ return 401; }} proxy_pass {upstream}; }}\n'
        "  }\n}\n"
    )
    with _running([str(NGINX), "-c", str(config), "-p", str(folder)], port, "nginx") as url:
        yield url


@contextmanager
def _running(command: list[str], port: int, name: str) -> Iterator[str]:
    """``command``'s server, once it listens on ``port``; stopped after."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process, name)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"{name} did not start") from None
            time.sleep(0.2)


@contextmanager
def assistant_server(home: Path) -> Iterator[str]:
    """``assistant serve`` on ``home``; the URL has no ``/v1``."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "assistant"), "serve", "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
