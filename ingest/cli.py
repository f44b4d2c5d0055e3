"""`ingest PATH... --domain NAME`: add or refresh a domain's documents in the index."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant.console import (
    ConfigOption,
    HomeOption,
    JsonOption,
    print_json,
    run,
    settings_from,
    stderr,
    stdout,
)
from assistant.runtime import Runtime
from ingest.pipeline import IngestSummary, ingest_paths

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich")


@app.command(help="Add documents (txt, md, html, pdf, docx) to a domain's index, or refresh them after they changed.")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders; folders are searched recursively.")],
    domain: Annotated[str, typer.Option("--domain", "-d", help="Domain to add the documents to.")],
    prune: Annotated[
        bool, typer.Option("--prune", help="Forget documents of the domain that are no longer under PATHS.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    runtime = Runtime(settings_from(home, config))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
        console=stderr,
        disable=quiet or json_output or not stderr.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(f"ingest {domain}", total=None, chunks=0)
        summary = ingest_paths(
            paths,
            domain,
            index=runtime.index,
            manifest=runtime.manifest,
            chunking=runtime.settings.chunking,
            prune=prune,
            on_progress=lambda done, total, chunks: progress.update(task, completed=done, total=total, chunks=chunks),
        )
    if json_output:
        print_json(asdict(summary))
    else:
        _print_summary(summary)
    if summary.files_failed:
        raise typer.Exit(1)


def _print_summary(summary: IngestSummary) -> None:
    for failure in summary.files_failed:
        stderr.print(f"[red]failed:[/] {escape(failure['path'])}: {escape(failure['error'])}", soft_wrap=True)
    stdout.print(
        f"[bold]{summary.domain}[/]: {summary.files_added} added, {summary.files_updated} updated, "
        f"{summary.files_unchanged} unchanged, {summary.files_removed} removed, "
        f"{len(summary.files_failed)} failed · {summary.chunks_added} chunks added, "
        f"{summary.chunks_removed} removed · {summary.seconds:.1f} s"
    )


def main() -> None:
    run(app)
