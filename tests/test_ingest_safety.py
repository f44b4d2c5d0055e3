"""Ingest that users can trust: hostile files, a killed run, and the index's housekeeping commands."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.runtime import Runtime
from ingest.pipeline import IngestSummary
from ingest.verify import verify_domain

from .conftest import BIN, SAMPLES, invoke


def _ingest(runtime: Runtime, paths: list[Path], domain: str = "docs") -> IngestSummary:
    return runtime.ingest(paths, domain)


@pytest.mark.model
def test_hostile_files_each_get_a_reason_and_the_rest_is_ingested(home: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA perfectly fine page.\n")
    (docs / "huge.txt").write_text("big " * 5000)
    (docs / "dangling.md").symlink_to(tmp_path / "deleted-long-ago.md")
    (docs / "loop-a.md").symlink_to(docs / "loop-b.md")
    (docs / "loop-b.md").symlink_to(docs / "loop-a.md")
    (docs / "cycle").symlink_to(docs, target_is_directory=True)  # a folder that contains itself
    runtime = Runtime(load_settings(home=home, ingest={"max_file_mb": 0.01}))

    summary = _ingest(runtime, [docs])
    reasons = {Path(f["path"]).name: f["error"] for f in summary.files_failed}
    assert reasons == {
        "huge.txt": "file is 0.02 MB, over the 0.01 MB limit (ingest.max_file_mb)",
        "dangling.md": "No such file or directory",
        "loop-a.md": "Too many levels of symbolic links",
        "loop-b.md": "Too many levels of symbolic links",
    }
    assert summary.files_added == 1


def _write_bulk_corpus(folder: Path, files: int) -> None:
    folder.mkdir()
    for i in range(files):
        (folder / f"note-{i:03d}.md").write_text(
            f"# Note {i}\n\nWarehouse {i} ships parcel type {i * 7 % 13} on weekday {i % 5}. "
            f"Its manager is person {i * 3}, reachable on extension {1000 + i}.\n"
        )


@pytest.mark.model
def test_killed_ingest_converges_to_the_uninterrupted_index(home: Path, tmp_path: Path, models_dir: Path) -> None:
    corpus = tmp_path / "bulk"
    _write_bulk_corpus(corpus, 400)  # 400 one-chunk files: two flushes of 256 chunks, a kill lands between
    manifest = home / "index" / "manifest.sqlite"
    process = subprocess.Popen(
        [str(BIN / "ingest"), str(corpus), "--domain", "bulk", "--quiet"],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    recorded = _wait_for_first_recorded_file(manifest, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < recorded < 400, "the kill must land mid-run"

    rerun = invoke("ingest", corpus, "--domain", "bulk", "--json", home=home)
    assert rerun.returncode == 0, rerun.stderr
    summary = rerun.json()
    assert summary["files_added"] + summary["files_unchanged"] == 400 and summary["files_unchanged"] >= recorded
    verify = invoke("ingest", "verify", "--json", home=home)
    assert verify.returncode == 0 and verify.json()["domains"][0]["ok"] is True

    reference_home = tmp_path / "reference"
    reference_home.mkdir()
    (reference_home / "models").symlink_to(models_dir, target_is_directory=True)
    reference = Runtime(load_settings(home=reference_home))
    _ingest(reference, [corpus], domain="bulk")
    killed_then_rerun = Runtime(load_settings(home=home))
    assert killed_then_rerun.index.all_ids("bulk") == reference.index.all_ids("bulk")
    assert killed_then_rerun.index.count("bulk") == reference.index.count("bulk") == 400


def _wait_for_first_recorded_file(manifest: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists():
            with sqlite3.connect(manifest) as db:
                try:
                    (count,) = db.execute("SELECT COUNT(*) FROM documents").fetchone()
                except sqlite3.OperationalError:  # the table is being created
                    count = 0
            if count:
                return int(count)
        time.sleep(0.05)
    raise AssertionError("ingest finished or stalled before recording a file")


def test_verify_finds_orphans_and_missing_chunks_and_repairs_them(runtime: Runtime, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.md", "b.md"):
        (docs / name).write_text(f"# {name}\n\nText of {name}.\n")
    _ingest(runtime, [docs])
    assert verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical).ok

    record = runtime.manifest.get("docs", str((docs / "a.md").resolve()))
    assert record is not None
    runtime.manifest.delete("docs", record.path)  # a.md's chunks are now orphans
    b_record = runtime.manifest.get("docs", str((docs / "b.md").resolve()))
    assert b_record is not None
    runtime.index.delete("docs", b_record.chunk_ids)  # b.md's chunks are now missing

    report = verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical, repair=True)
    assert report.orphan_chunks == list(record.chunk_ids)
    assert report.documents_missing_chunks == {b_record.path: len(b_record.chunk_ids)}
    assert report.repaired
    assert verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical).ok
    again = _ingest(runtime, [docs])
    assert again.files_added == 2 and verify_domain("docs", runtime.index, runtime.manifest, runtime.lexical).ok


@pytest.mark.model
def test_list_stats_remove_from_the_command_line(home: Path) -> None:
    assert invoke("ingest", SAMPLES / "corpus" / "policy", "-d", "policy", "--quiet", home=home).returncode == 0

    listed = invoke("ingest", "list", "--json", home=home).json()["documents"]
    assert len(listed) == 6 and {d["source"] for d in listed} >= {"leave-policy.md", "data-retention.html"}
    stats = invoke("ingest", "stats", "--json", home=home).json()["domains"]
    chunks = stats[0]["chunks"]
    assert stats == [{"domain": "policy", "documents": 6, "chunks": chunks}]

    missing = invoke("ingest", "remove", "-d", "policy", "nope.md", home=home)
    assert missing.returncode == 2 and "no document nope.md in domain 'policy'" in missing.stderr
    removed = invoke("ingest", "remove", "-d", "policy", "leave-policy.md", "--json", home=home).json()
    leave_chunks = next(d["chunks"] for d in listed if d["source"] == "leave-policy.md")
    assert removed == {"domain": "policy", "files_removed": 1, "chunks_removed": leave_chunks}
    after = json.loads(invoke("ingest", "stats", "--json", home=home).stdout)["domains"][0]
    assert (after["documents"], after["chunks"]) == (5, chunks - leave_chunks)
    assert invoke("ingest", "verify", home=home).returncode == 0
