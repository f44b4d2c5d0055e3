"""What both CLIs share: the common options, JSON printing and the one-line error rule."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from assistant.core.config import ENV_PREFIX, Settings, default_home, load_settings
from assistant.core.errors import UserError, log_failure, server_fault

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data home (index, models, adapters). Default: $ASSISTANT_HOME or ~/.local/share/domain-assistant.",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML config file. Default: <home>/config.toml.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def settings_from(home: Path | None, config: Path | None) -> Settings:
    return load_settings(home=home, config_file=config)


def print_json(value: BaseModel | dict[str, Any]) -> None:
    data = value.model_dump() if isinstance(value, BaseModel) else value
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


VERBOSE_FLAG = "--verbose"


def run(app: Callable[[], Any]) -> None:
    """Run a CLI so that a user's mistake is one line on stderr and exit status 2, never a traceback.

    Libraries' warnings and log lines (bitsandbytes on a CPU machine, transformers, chromadb) stay off the
    terminal unless ``--verbose`` is given, anywhere on the command line of any command."""
    verbose = VERBOSE_FLAG in sys.argv
    if verbose:
        sys.argv.remove(VERBOSE_FLAG)
    # The level goes on the handler: libraries that set their own logger's level (bm25s: DEBUG) bypass the root's.
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO if verbose else logging.ERROR)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, handlers=[handler])
    if not verbose:
        warnings.simplefilter("ignore")
    try:
        app()
    except KeyboardInterrupt:
        stderr.print("interrupted")
        raise SystemExit(130) from None
    except Exception as raised:
        err = server_fault(raised) or raised
        if isinstance(err, UserError):
            stderr.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
            raise SystemExit(2) from None
        # a bug or an unforeseen failure: one line here, the traceback in the log
        log = _log_error(err)
        stderr.print(f"[bold red]error:[/] {escape(type(err).__name__)}: {escape(str(err))} (details in {log})")
        raise SystemExit(2) from None


def _log_error(err: Exception) -> Path:
    """Append the traceback to ``<home>/logs/errors.log`` (the home of the command line, if it can be read)."""
    home = Path(os.environ.get(f"{ENV_PREFIX}HOME") or default_home())
    for flag, value in zip(sys.argv, sys.argv[1:], strict=False):
        if flag == "--home":
            home = Path(value)
        elif flag.startswith("--home="):
            home = Path(flag.removeprefix("--home="))
    return log_failure(err, home, " ".join(sys.argv))
