"""`assistant adapters ...`: train, inspect, activate and export per-domain LoRA adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.registry import AdapterVersion, Registry
from assistant.cli.console import ConfigOption, HomeOption, JsonOption, print_json, settings_from, stderr, stdout

if TYPE_CHECKING:  # the commands that train, export or import load these; `assistant ask` starts without them
    from adapters.training.equivalence import Agreement
    from adapters.training.train import Progress as TrainingProgress
    from adapters.training.train import ProgressCallback

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Per-domain LoRA adapters: train them on your answers, keep versions, export them to GGUF for llama.cpp.",
)


class MergedTypeChoice(StrEnum):
    f16 = "f16"
    q8_0 = "q8_0"


NameArgument = Annotated[str, typer.Argument(help="DOMAIN (its active version) or DOMAIN@VERSION.")]


@app.command()
def train(
    domain: Annotated[str, typer.Option("--domain", "-d", help="Domain whose index supplies the passages.")],
    data: Annotated[Path, typer.Option("--data", help="Training JSONL: question, answer, optional sources.")],
    eval_set: Annotated[
        list[Path] | None,
        typer.Option("--eval-set", help="Eval JSONL whose questions must not be trained on (repeatable)."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop after N optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", min=0.01, help="Passes over the training data.")] = None,
    activate: Annotated[bool, typer.Option(help="Make the new version the domain's active adapter.")] = True,
    export: Annotated[
        bool, typer.Option(help="Export the GGUF adapter for llama.cpp and check it, so `ask` can use it.")
    ] = True,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Train a new adapter version on RAFT-style examples built from the domain's index.

    Each example becomes the very prompt the assistant would serve for its question: its own top
    retrieval.k passages in served order, the gold passage ranked in by its score when retrieval misses
    it. Rerunning an interrupted training resumes it from its last checkpoint.
    """
    from adapters.training.pipeline import train_from_file
    from assistant.runtime import Runtime
    from eval.dataset import eval_questions

    notice = _notice_printer(json_output)
    with _training_progress(quiet=json_output) as on_progress:
        adapter, checks = train_from_file(
            Runtime(settings_from(home, config)),
            domain,
            data,
            eval_questions(eval_set or []),
            activate=activate,
            export=export,
            max_steps=max_steps,
            epochs=epochs,
            on_progress=on_progress,
            on_notice=notice,
        )
    if json_output:
        print_json(_summary(adapter))
        return
    card = adapter.card
    stdout.print(
        f"[bold]{escape(adapter.name)}[/] registered{' and active' if adapter.active else ''}: "
        f"{card.steps} steps, train loss {card.train_loss:.3f}, held-out loss {card.held_out_loss:.3f}, "
        f"{card.seconds:.0f} s"
    )
    _print_exports(adapter, checks)


@app.command("list")
def list_adapters(
    domain: Annotated[str | None, typer.Option("--domain", "-d", help="Only this domain.")] = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """All adapter versions, the active one of each domain marked."""
    registry = Registry(settings_from(home, config).adapters_dir)
    versions = [v for d in ([domain] if domain else registry.domains()) for v in registry.versions(d)]
    if json_output:
        print_json({"adapters": [_summary(v) for v in versions]})
        return
    if not versions:
        stdout.print("no adapters yet: train one with `assistant adapters train --domain NAME --data FILE.jsonl`")
        return
    table = Table("adapter", "active", "created", "method", "examples", "held-out loss", "exports")
    for v in versions:
        table.add_row(
            escape(v.name),
            "●" if v.active else "",
            v.card.created_at.strftime("%Y-%m-%d %H:%M"),
            escape(v.card.method.split(" (")[0]),
            str(v.card.dataset.examples),
            "—" if v.card.held_out_loss is None else f"{v.card.held_out_loss:.3f}",
            ", ".join(v.card.exports) or "—",
        )
    stdout.print(table)


@app.command()
def show(
    name: NameArgument, json_output: JsonOption = False, home: HomeOption = None, config: ConfigOption = None
) -> None:
    """An adapter's card: base model, data, hyperparameters, losses, hardware, exports."""
    adapter = Registry(settings_from(home, config).adapters_dir).get(name)
    if json_output:
        print_json(_summary(adapter))
        return
    stdout.print_json(adapter.card.model_dump_json())
    stdout.print(f"[dim]{escape(str(adapter.path))}[/]")


@app.command()
def activate(name: NameArgument, home: HomeOption = None, config: ConfigOption = None) -> None:
    """Make DOMAIN@VERSION the domain's active adapter."""
    adapter = Registry(settings_from(home, config).adapters_dir).activate(name)
    stdout.print(f"{escape(adapter.name)} is now active")


@app.command()
def rollback(
    domain: Annotated[str, typer.Argument(help="Domain whose previously active version comes back.")],
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Make the previously active version active again."""
    adapter = Registry(settings_from(home, config).adapters_dir).rollback(domain)
    stdout.print(f"rolled back: {escape(adapter.name)} is active again")


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="DOMAIN@VERSION; the active version can't be deleted.")],
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete one adapter version and its exports."""
    adapter = Registry(settings_from(home, config).adapters_dir).delete(name)
    stdout.print(f"deleted {escape(adapter.name)}")


@app.command()
def export(
    name: NameArgument,
    merged: Annotated[bool, typer.Option("--merged", help="Also write the base with the adapter merged in.")] = False,
    merged_type: Annotated[
        MergedTypeChoice, typer.Option("--type", help="Merged weights: f16 (exact) or q8_0 (half the size).")
    ] = MergedTypeChoice.f16,
    check: Annotated[
        bool, typer.Option(help="Compare the exported GGUF's next-token logits with transformers + PEFT.")
    ] = True,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Export to GGUF: a LoRA adapter for llama.cpp hot-swapping, and with --merged a self-contained model.

    The export is then checked: llama.cpp's next-token logits with the exported files are compared with
    those of the PEFT adapter on transformers, and a file that disagrees beyond tolerance is deleted.
    """
    from adapters.training.export import export_adapter

    settings = settings_from(home, config)
    adapter = Registry(settings.adapters_dir).get(name)
    adapter, checks = export_adapter(
        settings,
        adapter,
        merged=merged_type.value if merged else None,
        check=check,
        on_notice=_notice_printer(json_output),
    )
    if json_output:
        print_json({"name": adapter.name, "exports": adapter.card.exports})
        return
    _print_exports(adapter, checks)


@app.command("import")
def import_folder(
    folder: Annotated[Path, typer.Argument(help="A PEFT LoRA folder: adapter_config.json, adapter_model.safetensors.")],
    domain: Annotated[
        str | None, typer.Option("--domain", "-d", help="Domain it serves; default: the one on its card.json.")
    ] = None,
    activate: Annotated[bool, typer.Option(help="Make it the domain's active adapter.")] = True,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Register a LoRA adapter trained anywhere on the same base (Unsloth, LLaMA-Factory, axolotl, TRL, or
    `adapters train` on another machine), then export its GGUF and check it against PEFT.

    Refused before anything is registered: another kind of adapter than LoRA, trained embeddings or LM head,
    matrices that do not fit the served base, or a card naming another base.
    """
    from adapters.training.import_peft import import_adapter

    adapter, checks = import_adapter(
        settings_from(home, config), folder, domain, activate=activate, on_notice=_notice_printer(json_output)
    )
    if json_output:
        print_json(_summary(adapter))
        return
    stdout.print(f"[bold]{escape(adapter.name)}[/] registered{' and active' if adapter.active else ''}")
    _print_exports(adapter, checks)


def _print_exports(adapter: AdapterVersion, checks: list[Agreement]) -> None:
    from adapters.training.equivalence import SERVED_BASE_CHECK

    for artifact, info in adapter.card.exports.items():
        stdout.print(f"[bold]{escape(artifact)}[/] {escape(info['path'])}")
    for c in checks:
        cosine = "effect below noise" if c.effect_cosine is None else f"effect cosine {c.effect_cosine:.3f}"
        verdict = "[green]passed[/]" if c.passed else "[red]FAILED[/]"
        if c.artifact == SERVED_BASE_CHECK and not c.passed:
            verdict = "[yellow]beyond the F16 tolerance (reported only)[/]"
        stdout.print(
            f"  {verdict} {escape(c.artifact)}: "
            f"top-1 agreement {c.top1_agreement:.0%}, max logit difference {c.max_logit_diff:.3f} "
            f"(tolerance {c.tolerance:.3f}, noise floor {c.noise_floor:.3f}), {cosine}"
        )


def _notice_printer(quiet: bool) -> Callable[[str], None]:
    """What a long job says it is doing, on stderr; nothing when stdout is JSON for a script."""

    def notice(text: str) -> None:
        if not quiet:
            stderr.print(escape(text))

    return notice


@contextmanager
def _training_progress(quiet: bool) -> Iterator[ProgressCallback]:
    """A progress bar of optimizer steps with the latest losses on a terminal; a line per evaluation in a log."""
    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps · loss {task.fields[loss]} · held-out {task.fields[held_out]}"),
        TimeElapsedColumn(),
        console=stderr,
        disable=quiet or not stderr.is_terminal,
    ) as progress:
        task = progress.add_task("train", total=None, loss="-", held_out="-")

        def on_progress(report: TrainingProgress) -> None:
            progress.update(task, completed=report.step, total=report.total_steps)
            if report.loss is not None:
                progress.update(task, loss=f"{report.loss:.3f}")
            if report.held_out_loss is not None:
                progress.update(task, held_out=f"{report.held_out_loss:.3f}")
                if not quiet and not stderr.is_terminal:
                    stderr.print(f"step {report.step}/{report.total_steps}: held-out loss {report.held_out_loss:.3f}")

        yield on_progress


def _summary(adapter: AdapterVersion) -> dict[str, object]:
    return {
        "name": adapter.name,
        "active": adapter.active,
        "path": str(adapter.path),
        **adapter.card.model_dump(mode="json"),
    }
