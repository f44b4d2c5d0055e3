"""Ingest that users can trust: hostile files, a killed run, and the index's housekeeping commands."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from ingest.pipeline import IngestSummary, discover, ingest_files
from ingest.verify import verify_domain
from ingest.write_lock import writing

from .conftest import BIN, SAMPLES, invoke, run_cli


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


def test_the_web_app_reads_only_under_the_allowed_roots_whatever_the_path_says(tmp_path: Path) -> None:
    """`within` (the app's ingest.allowed_roots): resolved paths, so `..` and symlinks cannot leave the roots;
    refused before anything is read, or anything said about whether an outside path exists."""
    allowed, outside = tmp_path / "shared", tmp_path / "private"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "handbook.md").write_text("# Handbook\n\nBadges at the front desk.\n")
    (outside / "keys.md").write_text("# Keys\n\nThe server's secrets.\n")
    runtime = Runtime(load_settings(home=tmp_path / "home"))

    assert [f.source for f in discover([allowed], within=[allowed])] == ["handbook.md"]
    (allowed / "leak.md").symlink_to(outside / "keys.md")
    (allowed / "escape").symlink_to(outside, target_is_directory=True)  # not followed: os.walk keeps to the tree
    refused = [
        [allowed],  # holds a symlink to a file outside
        [allowed / ".." / "private" / "keys.md"],
        [outside / "no-such-file.md"],  # outside: refused as such, not reported missing
        [Path("/etc/passwd")],
    ]
    for paths in refused:
        with pytest.raises(UserError, match="outside the folders this server may read"):
            runtime.ingest(paths, "handbook", within=[allowed])
    with pytest.raises(UserError, match=r"ingest\.allowed_roots"):
        runtime.ingest([allowed / "handbook.md"], "handbook", within=[])
    assert not (tmp_path / "home" / "index").exists(), "nothing was indexed, nor a model loaded"


@pytest.mark.model
def test_a_file_swapped_for_a_symlink_after_discovery_is_not_read(tmp_path: Path, home: Path) -> None:
    """Discovery checks each path; the batch reads it later. Whoever can write in an allowed root can swap a
    file for a symlink to a secret in between: the file actually opened is checked again."""
    allowed, outside = tmp_path / "shared", tmp_path / "private"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "handbook.md").write_text("# Handbook\n\nBadges at the front desk.\n")
    (allowed / "swapped.md").write_text("# Swapped\n\nAn ordinary page, at discovery.\n")
    (outside / "keys.md").write_text("# Keys\n\nThe server's zanzibar secrets.\n")
    runtime = Runtime(load_settings(home=home))
    files = discover([allowed], within=[allowed])
    (allowed / "swapped.md").unlink()
    (allowed / "swapped.md").symlink_to(outside / "keys.md")  # between discovery and the read
    with runtime.writing():
        summary = ingest_files(
            files,
            "handbook",
            index=runtime.index,
            manifest=runtime.manifest,
            lexical=runtime.lexical,
            settings=runtime.settings,
            within=[allowed],
        )
    assert summary.files_added == 1
    assert [(Path(f["path"]).name, "outside the folders" in f["error"]) for f in summary.files_failed] == [
        ("swapped.md", True)
    ]
    assert runtime.lexical.search("handbook", "zanzibar secrets", 5) == []


def test_a_file_named_directly_must_be_a_document(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(UserError, match=r"not a document type that can be ingested: .*id_rsa \(supported: "):
        discover([secret])


def test_a_second_writer_says_it_waits_then_gives_up_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "page.md").write_text("# Page\n\nSome text.\n")
    settings = load_settings(home=home)
    with writing(settings.index_dir, timeout_s=1, on_wait=lambda message: None):  # another process is writing
        started = time.monotonic()
        result = run_cli("ingest", docs, "-d", "docs", home=home, env={"ASSISTANT_INGEST__LOCK_TIMEOUT_S": "2"})
    assert result.returncode == 2 and time.monotonic() - started >= 2
    assert "waiting for it to finish" in result.stderr
    assert "error: another process has been writing to the index" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.model
def test_two_ingests_started_at_once_on_one_domain_both_land(home: Path, tmp_path: Path) -> None:
    """Each process takes the index in turn: both sets of documents end up indexed and verify finds them clean."""
    halves = []
    for half in ("first", "second"):
        folder = tmp_path / half
        folder.mkdir()
        for i in range(3):
            (folder / f"{half}-{i}.md").write_text(f"# {half} {i}\n\nThe {half} set, page {i}, about topic {i}.\n")
        halves.append(folder)
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    processes = [
        subprocess.Popen(
            [str(BIN / "ingest"), str(folder), "-d", "shared", "--json"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for folder in halves
    ]
    outcomes = [process.communicate(timeout=600) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outcomes
    assert sum(json.loads(out)["files_added"] for out, _ in outcomes) == 6
    listed = invoke("ingest", "list", "-d", "shared", "--json", home=home).json()["documents"]
    assert sorted(d["source"] for d in listed) == sorted(f"{h}-{i}.md" for h in ("first", "second") for i in range(3))
    verified = invoke("ingest", "verify", "--json", home=home).json()["domains"]
    assert [(d["domain"], d["ok"]) for d in verified] == [("shared", True)]


@pytest.mark.model
def test_a_running_runtime_answers_from_documents_another_process_ingested(home: Path, tmp_path: Path) -> None:
    """The web app's runtime stays up while someone runs `ingest`: its next question sees the new document.
    Vector retrieval alone, because embedded Chroma is what keeps stale vectors in memory (BM25 is reread)."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "parking.md").write_text("# Parking\n\nStaff park in the north garage, level two.\n")
    (second / "bicycles.md").write_text("# Bicycles\n\nBicycles are stored in the locked cage by the east door.\n")
    (home / "config.toml").write_text('[retrieval]\nmode = "vector"\n')
    app = Runtime(load_settings(home=home))
    app.ingest([first], "office")
    question = "Where are bicycles stored?"
    assert [c.source for c in app.retrieve(question, "office").citations] == ["parking.md"]

    assert run_cli("ingest", second, "-d", "office", home=home).returncode == 0  # another process
    assert "bicycles.md" in [c.source for c in app.retrieve(question, "office").citations]


@contextlib.contextmanager
def _small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``folder``, for as long as the block runs (root only: mount)."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(mount, check=False).returncode:
        pytest.skip("mounting a small filesystem needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.model
def test_a_full_disk_during_ingest_names_the_disk_and_the_index_stays_consistent(
    tmp_path: Path, models_dir: Path
) -> None:
    """Each step a new process, as a user runs them: the full disk is one line naming it; once there is room
    again, what was indexed before answers, `verify --repair` removes what the cut-short run left, and
    ingest goes on."""
    with _small_disk(tmp_path / "disk", "2m") as disk:
        home = disk / "home"
        home.mkdir()
        (home / "models").symlink_to(models_dir, target_is_directory=True)
        assert run_cli("ingest", SAMPLES / "corpus" / "support", "-d", "support", home=home).returncode == 0
        big = tmp_path / "big"
        big.mkdir()
        for n in range(30):  # more than the disk holds
            (big / f"notes-{n}.md").write_text(f"# Notes {n}\n\n" + f"Paragraph {n} of the overflowing notes. " * 400)
        full = run_cli("ingest", big, "-d", "big", home=home)
        assert full.returncode == 2 and len(full.stderr.strip().splitlines()) == 1, full.stderr
        assert f"the disk holding {home / 'index'} is full" in full.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        answered = run_cli("assistant", "retrieve", "How do I factory reset the router?", "--json", home=home)
        assert json.loads(answered.stdout)["citations"][0]["source"] == "factory-reset.md"
        assert run_cli("ingest", "verify", "--repair", home=home).returncode == 0
        assert run_cli("ingest", "verify", home=home).returncode == 0  # the manifest and the index agree
        assert run_cli("ingest", big / "notes-0.md", "-d", "big", home=home).returncode == 0
