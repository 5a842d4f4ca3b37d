"""Fixtures of the command-line tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SAMPLETREE_MODEL", "SAMPLETREE_LIBRARY", "SAMPLETREE_PROGRESS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file and sidecar written the way the app writes them (untrained net)."""
    from models import NetworkConfig, build_untrained, save_model

    path = tmp_path_factory.mktemp("weights") / "testnet.pt"
    save_model(build_untrained(network=NetworkConfig(channels=16)), path, name="testnet",
               version="1")
    return path


@pytest.fixture
def trained(weights: Path, tmp_path: Path) -> Path:
    """The test weights, marked trained: a rescan with nothing to read takes the quick
    path that needs no network (app.cli._rescan_with_nothing_to_embed)."""
    path = tmp_path / "w" / "net.pt"
    path.parent.mkdir()
    shutil.copy(weights, path)
    meta = json.loads(weights.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**meta, "trained": True}))
    return path
