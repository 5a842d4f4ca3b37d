"""The unlabeled music pool for distillation: its build and its use in training (CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from models.corpus import CLIP, SR, Corpus, CorpusError
from models.distillpool import POOL_PACKAGES, Pool, build_pool, track_clips
from models.train import Teacher, TrainConfig, train


def _fake_packages(root: Path, seconds: float = 23.0) -> None:
    """Two pool packages with music files: tones that change every second, a quiet stretch."""
    rng = np.random.default_rng(3)
    for name, n in (("wesnoth-1.16-music", 2), ("hedgewars-data", 1)):
        base = root / POOL_PACKAGES[name][0]
        base.mkdir(parents=True)
        for k in range(n):
            t = np.arange(int(seconds * 22_050)) / 22_050
            y = 0.5 * np.sin(2 * np.pi * (220 + 50 * k + 30 * np.floor(t)) * t)
            y += 0.01 * rng.standard_normal(len(t))
            y[12 * 22_050:18 * 22_050] *= 1e-3  # a quiet passage: no clip from it
            sf.write(base / f"track{k}.ogg", y.astype(np.float32), 22_050)


def test_the_pool_is_cut_the_same_every_time_and_reads_like_a_corpus(tmp_path: Path):
    _fake_packages(tmp_path / "pkgs")
    logs: list[str] = []
    a = build_pool([tmp_path / "pkgs"], tmp_path / "a",
                   ["wesnoth-1.16-music", "hedgewars-data"], log=logs.append)
    b = build_pool([tmp_path / "pkgs"], tmp_path / "b",
                   ["wesnoth-1.16-music", "hedgewars-data"], log=lambda _m: None)
    assert a["digest"] == b["digest"] and a["clips"] == b["clips"]
    pool = Pool.open(tmp_path / "a")
    assert pool.audio.dtype == np.int16 and pool.audio.shape[1] == CLIP
    # every HOP_S from the first second, the quiet passage (12–18 s) left out
    starts = sorted({m.start_s for m in pool.meta})
    assert starts == [1.0, 6.0, 11.0, 21.0]
    assert {m.source for m in pool.meta} == {"wesnoth-1.16-music", "hedgewars-data"}
    assert np.abs(pool.audio).max(axis=1).min() >= 32000  # peak-normalised
    assert any("hedgewars-data: 1 tracks, 4 clips" in m for m in logs)


def test_a_pool_never_reads_the_evaluation_packages(tmp_path: Path):
    with pytest.raises(CorpusError, match="kept out of training"):
        build_pool([tmp_path], tmp_path / "x", ["sonic-pi-samples"])
    with pytest.raises(CorpusError, match="no pool package found"):
        build_pool([tmp_path], tmp_path / "x", ["hedgewars-data"], log=lambda _m: None)
    with pytest.raises(CorpusError, match="no distillation pool"):
        Pool.open(tmp_path / "nothing")


def test_track_clips_caps_a_long_track_evenly():
    y = np.random.default_rng(0).standard_normal(SR * 400).astype(np.float32)
    clips = track_clips(y, hop_s=1.0, max_clips=10)
    assert len(clips) == 10
    starts = [s for s, _ in clips]
    assert starts[0] == SR and starts[-1] > SR * 390


def _fake_teacher(root: Path, meta_len: int, dim: int, name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    np.save(root / f"teacher-{name}.npy", rng.standard_normal((meta_len, dim)).astype(np.float16))


def test_training_with_a_pool_keeps_the_episodes_and_learns_the_pools_targets(
        toy_corpus: Path, tmp_path: Path):
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(toy_corpus, corpus_dir)
    corpus = Corpus.open(corpus_dir)
    _fake_packages(tmp_path / "pkgs", seconds=40.0)
    build_pool([tmp_path / "pkgs"], tmp_path / "pool", ["wesnoth-1.16-music"],
               log=lambda _m: None)
    pool = Pool.open(tmp_path / "pool")
    _fake_teacher(corpus_dir, len(corpus.meta), 16, "aisfx", 1)
    _fake_teacher(tmp_path / "pool", len(pool.meta), 16, "aisfx", 2)

    # the pool's targets are standardised with the corpus's statistics
    ct = Teacher(corpus, "aisfx")
    pt = Teacher(pool, "aisfx", standardise_like=ct)
    raw = np.load(tmp_path / "pool/teacher-aisfx.npy").astype(np.float32)
    np.testing.assert_allclose(pt.emb, (raw - ct.stats[0][0]) / ct.stats[0][1], rtol=1e-5)

    def cfg(out: str, with_pool: bool, episodes: int = 12) -> TrainConfig:
        return TrainConfig(corpus=str(corpus_dir), out=str(tmp_path / out), episodes=episodes,
                           n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=4,
                           val_episodes=2, threads=1, device="cpu", distill="aisfx",
                           classes="all", pool_batch=8,
                           distill_pool=str(tmp_path / "pool") if with_pool else None)

    torch.manual_seed(0)
    train(cfg("plain", False), log=lambda _m: None)
    torch.manual_seed(0)
    train(cfg("pooled", True), log=lambda _m: None)
    plain = [json.loads(x) for x in (tmp_path / "plain/log.jsonl").read_text().splitlines()]
    pooled = [json.loads(x) for x in (tmp_path / "pooled/log.jsonl").read_text().splitlines()]
    assert all("pool_distill" in r for r in pooled) and not any("pool_distill" in r
                                                                   for r in plain)
    # the pool draws from its own generators: the episodes and their offsets are the same
    a = torch.load(tmp_path / "plain/last.pt", weights_only=False)
    b = torch.load(tmp_path / "pooled/last.pt", weights_only=False)
    assert a["sampler_rng"] == b["sampler_rng"] and a["rng"] == b["rng"]
    assert "pool_rng" in b and "pool_rng" not in a
    meta = json.loads((tmp_path / "pooled/model.json").read_text())
    assert meta["training"]["distill"]["pool"] == str(tmp_path / "pool")
    assert "--distill-pool" in meta["training"]["command"]
    # it resumes, pool state included
    said: list[str] = []
    train(cfg("pooled", True, episodes=16), log=said.append)
    assert said[0].startswith("resuming at episode 12")
    # and a pool without the teachers' cache says what to run
    (tmp_path / "pool/teacher-aisfx.npy").unlink()
    with pytest.raises(ValueError, match=r"teacher_embed\.py --teacher aisfx --corpus"):
        train(cfg("other", True), log=lambda _m: None)
