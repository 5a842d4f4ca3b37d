"""bench/classify.py's library: with --builtins the shipped built-ins are in use beside the
user's classes (so re-predicting is measured with their components), without it they are
not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.classify import add_supports_for, build_library
from core import builtins as bi
from core.classify import Classifier
from core.library import Library


@pytest.mark.parametrize("with_builtins", [False, True])
def test_the_bench_library_uses_the_builtins_only_when_asked(tmp_path: Path,
                                                              with_builtins: bool) -> None:
    if with_builtins and bi.shipped_model_id() is None:
        pytest.skip("no shipped built-ins")
    db = tmp_path / "lib.sqlite"
    info = build_library(db, 300, 2, 128, 6, builtins=with_builtins)
    with Library(db) as lib:
        add_supports_for(lib, info["truth"], 4, 6)
        report = Classifier(lib).refresh("bench")
    assert report.builtins == ("on" if with_builtins else "none")
    assert report.classes == (6 + 41 if with_builtins else 6)
