"""`ingest PATH... --domain NAME` and the index's housekeeping: list, remove, stats, verify."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from assistant.cli.console import (
    ConfigOption,
    HomeOption,
    JsonOption,
    print_json,
    run,
    settings_from,
    stderr,
    stdout,
)
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from ingest.pipeline import IngestSummary


class _AddByDefault(TyperGroup):
    """`ingest PATH...` means `ingest add PATH...`: the common case needs no subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors click; its Context is private
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_AddByDefault,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Add documents to a domain's index, and look after the index. `ingest PATH...` is `ingest add PATH...`.",
)
DomainFilter = Annotated[str | None, typer.Option("--domain", "-d", help="Only this domain.", show_default=False)]


@app.command(help="Add documents (txt, md, html, pdf, docx) to a domain's index, or refresh them after they changed.")
def add(
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
    runtime = Runtime(settings_from(home, config), on_wait=stderr.print)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[chunks]} chunks · {task.fields[rate]}"),
        TimeElapsedColumn(),
        console=stderr,
        disable=quiet or json_output or not stderr.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(f"ingest {domain}", total=None, chunks=0, rate="")

        def on_progress(done: int, total: int, chunks: int) -> None:
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:.1f} files/s, {chunks / elapsed:.1f} chunks/s" if elapsed > 0 else ""
            progress.update(task, completed=done, total=total, chunks=chunks, rate=rate)

        summary = runtime.ingest(paths, domain, prune=prune, on_progress=on_progress)
    if json_output:
        print_json(asdict(summary))
    else:
        _print_summary(summary)
    if summary.files_failed:
        raise typer.Exit(1)


@app.command("list", help="List the documents in the index, per domain.")
def list_documents(
    domain: DomainFilter = None, json_output: JsonOption = False, home: HomeOption = None, config: ConfigOption = None
) -> None:
    records = Runtime(settings_from(home, config)).documents(domain)
    if json_output:
        print_json({"documents": [{**asdict(r), "chunk_ids": None, "chunks": len(r.chunk_ids)} for r in records]})
        return
    table = Table("domain", "source", "title", "chunks", "ingested (UTC)", box=None)
    for r in records:
        table.add_row(r.domain, escape(r.source), escape(r.title), str(len(r.chunk_ids)), r.ingested_at)
    stdout.print(table)


@app.command(
    help="Remove documents from a domain, each by its path or by a source name only one document has (see "
    "`ingest list`), or the whole domain with --all."
)
def remove(
    domain: Annotated[str, typer.Option("--domain", "-d", help="Domain to remove from.")],
    names: Annotated[list[str] | None, typer.Argument(help="Source names or paths.", show_default=False)] = None,
    everything: Annotated[bool, typer.Option("--all", help="Remove every document of the domain.")] = False,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    if everything == bool(names):
        raise UserError("name the documents to remove, or give --all (not both)")
    removed = Runtime(settings_from(home, config), on_wait=stderr.print).remove_documents(
        domain, None if everything else names
    )
    if json_output:
        print_json(removed)
    else:
        stdout.print(
            f"[bold]{domain}[/]: {removed['files_removed']} removed · {removed['chunks_removed']} chunks removed"
        )


@app.command(help="Documents and chunks per domain.")
def stats(
    domain: DomainFilter = None, json_output: JsonOption = False, home: HomeOption = None, config: ConfigOption = None
) -> None:
    rows = Runtime(settings_from(home, config)).domain_stats(domain)
    if json_output:
        print_json({"domains": rows})
        return
    table = Table("domain", "documents", "chunks", box=None)
    for row in rows:
        table.add_row(row["domain"], str(row["documents"]), str(row["chunks"]))
    stdout.print(table)


@app.command(help="Check that the manifest and the index agree (no orphan or missing chunks); --repair mends them.")
def verify(
    domain: DomainFilter = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete orphan chunks; forget documents with missing chunks.")
    ] = False,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    reports = Runtime(settings_from(home, config), on_wait=stderr.print).verify(domain, repair)
    if json_output:
        print_json({"domains": [{**asdict(r), "ok": r.ok} for r in reports]})
    else:
        for r in reports:
            state = "ok" if r.ok else ("repaired" if r.repaired else "[red]MISMATCH[/]")
            stdout.print(
                f"[bold]{r.domain}[/]: {state} · {r.documents} documents, {r.chunks} chunks, "
                f"{len(r.orphan_chunks)} orphan, {len(r.documents_missing_chunks)} with missing chunks"
                + ("" if r.lexical_in_sync else ", BM25 index out of date")
            )
    if any(not r.ok and not r.repaired for r in reports):
        raise typer.Exit(1)


def _print_summary(summary: IngestSummary) -> None:
    for failure in summary.files_failed:
        stderr.print(f"[red]failed:[/] {escape(failure['path'])}: {escape(failure['error'])}")
    stdout.print(
        f"[bold]{summary.domain}[/]: {summary.files_added} added, {summary.files_updated} updated, "
        f"{summary.files_unchanged} unchanged, {summary.files_removed} removed, "
        f"{len(summary.files_failed)} failed · {summary.chunks_added} chunks added, "
        f"{summary.chunks_removed} removed · {summary.seconds:.1f} s"
    )
    if common := summary.common_failure():
        reason, count = common
        stderr.print(f"[red]{count} of the files failed for one reason:[/] {escape(reason)}")


def main() -> None:
    run(app)
