"""The layers contract in pyproject.toml: the tree keeps it, it covers every module, and a back edge breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["assistant", "ingest", "adapters", "eval", "ui"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _layers() -> list[str]:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    return [module.strip() for layer in contract["layers"] for module in layer.split("|")]


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # ahead of the editable install: the copy is what gets read
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def _copy_of_the_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree)
    return tree


def test_every_module_sits_in_one_layer() -> None:
    """A module outside every layer would be free to import anything: each one must be listed, or be inside one."""
    layers = _layers()
    unplaced, doubly = [], []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            holders = [layer for layer in layers if module == layer or module.startswith(layer + ".")]
            if len(holders) > 1:
                doubly.append(module)
            elif not holders and module not in PACKAGES:  # a root package's own __init__ imports nothing
                unplaced.append(module)
    assert (unplaced, doubly) == ([], [])


def test_a_back_edge_breaks_the_layers(tmp_path: Path) -> None:
    """That the real tree keeps its layers is `make lint`'s own lint-imports run: here, that the contract bites."""
    tree = _copy_of_the_tree(tmp_path)
    # Ingest reaching up into the runtime: the kind of import that used to make the packages a circle.
    with (tree / "ingest" / "store.py").open("a") as store:
        store.write("\nfrom assistant.runtime import Runtime  # noqa: E402\n")
    broken = _lint_imports(tree)
    assert broken.returncode != 0
    assert "ingest.store -> assistant.runtime" in broken.stdout, broken.stdout
