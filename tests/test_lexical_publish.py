"""The BM25 index is published whole: writers, taking turns on the index's lock as every write does, never undo
each other, and a reader, who takes no lock (a fresh one each time, as another process would be), always finds
one complete build, never a half-swapped or a missing one."""

from __future__ import annotations

import threading
from pathlib import Path

from ingest.lexical import LexicalIndex
from ingest.write_lock import writing


def _build(generation: int) -> tuple[list[str], list[str]]:
    ids = [f"g{generation}-{i}" for i in range(40)]
    texts = [f"shared vocabulary word number {i} generation{generation}" for i in range(40)]
    return ids, texts


def test_concurrent_rebuilds_and_readers_always_see_one_whole_build(tmp_path: Path) -> None:
    root = tmp_path / "bm25"
    LexicalIndex(root).rebuild("docs", *_build(0))
    failures: list[str] = []
    stop = threading.Event()

    def write(start: int) -> None:
        writer = LexicalIndex(root)
        try:
            for generation in range(start, start + 30, 2):
                with writing(tmp_path, timeout_s=60, on_wait=lambda message: None):
                    writer.rebuild("docs", *_build(generation))
        except Exception as err:  # a rebuild that broke another one's files
            failures.append(f"rebuild: {type(err).__name__}: {err}")

    def read() -> None:
        while not stop.is_set():
            try:
                found = LexicalIndex(root).search("docs", "shared vocabulary", k=40)
            except Exception as err:
                failures.append(f"search: {type(err).__name__}: {err}")
                continue
            generations = {chunk_id.split("-")[0] for chunk_id, _ in found}
            if len(found) != 40 or len(generations) != 1:
                failures.append(f"search saw {len(found)} hits from builds {sorted(generations)}")

    threads = [threading.Thread(target=write, args=(start,)) for start in (1, 2)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()

    assert failures == []
    final = LexicalIndex(root)
    assert len(final.search("docs", "shared vocabulary", k=40)) == 40
    builds = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(builds) <= 2, "only the published build and the one before it are kept"
