"""Episodes, training and evaluation on a synthetic corpus (CPU, seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models import build_untrained, load_model
from models.corpus import Corpus
from models.episodes import Augment, AugmentConfig, EpisodeSampler, windows
from models.evaluate import EvalConfig, evaluate, score_model
from models.taxonomy import Taxonomy
from models.train import TINY_FEATURES, TINY_NETWORK, TrainConfig, train


def test_episodes_respect_the_split_and_keep_support_and_query_apart(toy_corpus: Path):
    corpus = Corpus.open(toy_corpus)
    tx = Taxonomy.load()
    train_classes = set(tx.names("train"))
    sampler = EpisodeSampler(corpus, tx.names("train"), 5, 3, 4, seed=1)
    for _ in range(30):
        ep = sampler.sample()
        assert len(ep.classes) == 5 and set(ep.classes) <= train_classes
        assert len(set(ep.support) & set(ep.query)) == 0
        for ci, c in enumerate(ep.classes):
            s = ep.support[ci * 3:(ci + 1) * 3]
            q = ep.query[ci * 4:(ci + 1) * 4]
            assert all(corpus.meta[i].cls == c for i in [*s, *q])
            # support and query from different independence groups
            s_groups = {corpus.meta[i].group for i in s}
            q_groups = {corpus.meta[i].group for i in q}
            assert len(s_groups) == 1 and not (s_groups & q_groups)


def test_level_maps_follow_the_tree(toy_corpus: Path):
    corpus = Corpus.open(toy_corpus)
    tx = Taxonomy.load()
    ep = EpisodeSampler(corpus, ["Violin", "Cello", "Snare", "Tom"], 4, 1, 1).sample()
    maps = ep.level_maps(tx, 2)
    fam = {c: int(maps[1][i]) for i, c in enumerate(ep.classes)}
    assert fam["Violin"] == fam["Cello"] != fam["Snare"]
    assert fam["Snare"] != fam["Tom"]  # Drum Kit vs Toms
    hs = {c: int(maps[2][i]) for i, c in enumerate(ep.classes)}
    assert hs["Snare"] == hs["Tom"] != hs["Violin"]  # membranophones


def test_augmentation_keeps_shape_and_changes_the_audio():
    x = torch.sin(torch.linspace(0, 2000, 16_000))[None].repeat(6, 1) * 0.5
    y = Augment(AugmentConfig(), seed=0)(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert y.abs().max() <= 1.0 + 1e-6
    assert not torch.allclose(x, y)


def test_windows_are_one_second_from_the_offset(toy_corpus: Path):
    corpus = Corpus.open(toy_corpus)
    w = windows(corpus, np.array([0, 1]), np.array([0, 4000]))
    assert w.shape == (2, 16_000)
    expect = torch.from_numpy(corpus.audio[1, 4000:20000].astype(np.float32)) / 32768
    torch.testing.assert_close(w[1], expect)


@pytest.fixture(scope="module")
def trained(toy_corpus: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    cfg = TrainConfig(corpus=str(toy_corpus), out=str(out), episodes=40, n_way=5, k_shot=2,
                      n_query=4, arch="tiny", val_every=20, val_episodes=5, augment=False,
                      lr=3e-3, threads=1, device="cpu")
    train(cfg, log=lambda _m: None)
    return out


def test_a_tiny_model_learns_a_toy_problem(trained: Path, toy_corpus: Path, tmp_path: Path):
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert [r["episode"] for r in log] == [20, 40]
    model = trained / "model.pt"
    report = evaluate({"toy": model}, EvalConfig(
        corpus=str(toy_corpus), out=str(tmp_path), shots=(1, 4), episodes=20, n_way=4,
        n_query=5, device="cpu"), log=lambda _m: None)
    acc = report["models"]["toy"]["shots"]["4"]["accuracy"]["mean"]
    # the same episodes with the same architecture, untrained
    cfg = EvalConfig(corpus=str(toy_corpus), out=str(tmp_path), shots=(4,), episodes=20,
                     n_way=4, n_query=5, device="cpu")
    untrained = build_untrained(TINY_FEATURES, TINY_NETWORK, seed=0)
    before = score_model(untrained, Corpus.open(toy_corpus), Taxonomy.load(), cfg)[4]
    acc0 = float(np.mean(before.acc))
    print("toy accuracy trained", acc, "untrained", acc0)
    assert acc >= 0.75 and acc >= acc0 + 0.1, (acc, acc0)  # 4-way: chance is 0.25
    # the model was never shown a test class
    info = load_model(model, "cpu").info
    assert set(info.extra["classes_seen"]).isdisjoint(Taxonomy.load().names("test"))
    assert info.extra["training"]["loss"]["kind"] == "hier"


def test_evaluation_writes_tables_json_and_plots(trained: Path, toy_corpus: Path,
                                                 tmp_path: Path):
    report = evaluate({"a": trained / "model.pt", "b": trained / "model.pt"}, EvalConfig(
        corpus=str(toy_corpus), out=str(tmp_path), shots=(1, 2), episodes=6, n_way=4,
        n_query=3, device="cpu"), log=lambda _m: None)
    for name in ("results.json", "results.md", "f1.png", "severity.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    # same episodes for every model: same weights → identical scores
    a, b = report["models"]["a"]["shots"], report["models"]["b"]["shots"]
    assert a == b
    sev = a["1"]["mistake_severity"]
    assert sev["n"] == 0 or 1.0 <= sev["mean"] <= 3.0
    md = (tmp_path / "results.md").read_text()
    assert "| a |" in md and "K=2" in md and "Mistake severity" in md
    assert set(a["2"]["per_class_f1"]) == {"Contrabass", "Jazz Guitar", "Trombone", "Kick"}


def test_training_resumes_from_its_checkpoint(toy_corpus: Path, tmp_path: Path):
    cfg = TrainConfig(corpus=str(toy_corpus), out=str(tmp_path), episodes=4, n_way=4,
                      k_shot=1, n_query=2, arch="tiny", val_every=2, val_episodes=2,
                      threads=1, device="cpu")
    train(cfg, log=lambda _m: None)
    said: list[str] = []
    cfg.episodes = 6
    train(cfg, log=said.append)
    assert said[0].startswith("resuming at episode 4")
    episodes = [json.loads(x)["episode"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert episodes == [2, 4, 6]
    cfg.alpha = 0.25
    with pytest.raises(ValueError, match="other settings"):
        train(cfg, log=lambda _m: None)


def test_a_run_saved_before_the_pitch_consistency_option_still_resumes(toy_corpus: Path,
                                                                      tmp_path: Path):
    cfg = TrainConfig(corpus=str(toy_corpus), out=str(tmp_path), episodes=2, n_way=4,
                      k_shot=1, n_query=2, arch="tiny", val_every=2, val_episodes=2,
                      threads=1, device="cpu")
    train(cfg, log=lambda _m: None)
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    for key in ("pitch_consistency", "consistency_semitones"):
        del state["config"][key]  # as the runs of v2 saved it
    torch.save(state, tmp_path / "last.pt")
    said: list[str] = []
    cfg.episodes = 4
    train(cfg, log=said.append)
    assert said[0].startswith("resuming at episode 2")


def _fake_teacher(corpus_dir: Path, dim: int = 24, name: str = "aisfx",
                  seed: int = 5) -> Corpus:
    """A teacher cache that knows each clip's class: a class direction plus noise."""
    corpus = Corpus.open(corpus_dir)
    classes = sorted({c.cls for c in corpus.meta})
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((len(classes), dim))
    rows = [dirs[classes.index(c.cls)] + 0.3 * rng.standard_normal(dim) for c in corpus.meta]
    np.save(corpus_dir / f"teacher-{name}.npy", np.asarray(rows, np.float16))
    return corpus


def test_distillation_learns_the_teachers_embedding_and_resumes(toy_corpus: Path,
                                                                tmp_path: Path):
    import shutil

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(toy_corpus, corpus_dir)
    _fake_teacher(corpus_dir)
    cfg = TrainConfig(corpus=str(corpus_dir), out=str(tmp_path / "run"), episodes=30,
                      n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=10, val_episodes=3,
                      augment=False, threads=1, device="cpu", distill="aisfx",
                      distill_weight=1.0, snapshot_every=15, classes="all")
    torch.manual_seed(0)
    train(cfg, log=lambda _m: None)
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert all("distill" in r for r in log)
    assert log[-1]["distill"] < log[0]["distill"]  # the head learns to predict the teacher
    assert sorted(p.name for p in (tmp_path / "run/snapshots").iterdir()) == [
        "ep000015.pt", "ep000030.pt"]
    state = torch.load(tmp_path / "run/last.pt", weights_only=False)
    assert state["head"] is not None
    # the head is training-only: the shipped weights are the plain network
    model = load_model(tmp_path / "run/model.pt")
    assert not any(k.startswith("head") for k in model.net.state_dict())
    meta = json.loads((tmp_path / "run/model.json").read_text())
    assert meta["training"]["distill"] == {"teacher": "aisfx", "weight": 1.0}
    assert "--distill aisfx" in meta["training"]["command"]
    # resuming restores the head and continues
    cfg.episodes = 40
    train(cfg, log=lambda _m: None)
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert log[-1]["episode"] == 40


def test_distillation_without_or_with_a_stale_teacher_cache_says_what_to_run(
        toy_corpus: Path, tmp_path: Path):
    import shutil

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(toy_corpus, corpus_dir)
    cfg = TrainConfig(corpus=str(corpus_dir), out=str(tmp_path / "run"), episodes=2,
                      n_way=5, k_shot=2, n_query=4, arch="tiny", threads=1, device="cpu",
                      distill="aisfx")
    with pytest.raises(ValueError, match=r"teacher_embed\.py --teacher aisfx --corpus"):
        train(cfg, log=lambda _m: None)
    np.save(corpus_dir / "teacher-aisfx.npy", np.zeros((3, 8), np.float16))
    with pytest.raises(ValueError, match="does not match the corpus"):
        train(cfg, log=lambda _m: None)


def test_two_teachers_weigh_the_same_and_a_run_can_start_from_earlier_weights(
        toy_corpus: Path, tmp_path: Path):
    import shutil

    from models.train import Teacher

    corpus_dir = tmp_path / "corpus"
    shutil.copytree(toy_corpus, corpus_dir)
    corpus = _fake_teacher(corpus_dir, dim=24, name="aisfx", seed=5)
    _fake_teacher(corpus_dir, dim=40, name="musicnn", seed=6)
    both = Teacher(corpus, "aisfx,musicnn")
    assert both.dim == 64 and [s.stop - s.start for s in both.slices] == [24, 40]
    target = both.targets(np.arange(6), torch.device("cpu"))
    # right on one teacher and opposite on the other: the mean of 0 and 2, whatever the widths
    pred = torch.cat([target[:, :24], -target[:, 24:]], dim=1)
    assert float(both.loss(pred, target)) == pytest.approx(1.0, abs=1e-4)

    first = TrainConfig(corpus=str(corpus_dir), out=str(tmp_path / "a"), episodes=10,
                        n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=5, val_episodes=2,
                        augment=False, threads=1, device="cpu", classes="all")
    torch.manual_seed(0)
    train(first, log=lambda _m: None)
    init = tmp_path / "a/best_net.pt"
    cfg = TrainConfig(corpus=str(corpus_dir), out=str(tmp_path / "b"), episodes=4,
                      n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=2, val_episodes=2,
                      augment=False, threads=1, device="cpu", classes="all",
                      distill="aisfx,musicnn", init=str(init), lr=1e-9)
    train(cfg, log=lambda _m: None)
    start = torch.load(init, weights_only=True)
    after = torch.load(tmp_path / "b/best_net.pt", weights_only=True)
    # at a vanishing learning rate the run stays at the weights it started from
    key = next(k for k in start if start[k].dtype.is_floating_point and start[k].numel() > 8)
    assert torch.allclose(after[key], start[key], atol=1e-5)
    meta = json.loads((tmp_path / "b/model.json").read_text())
    assert f"--init {init}" in meta["training"]["command"]
    assert "--distill aisfx,musicnn" in meta["training"]["command"]


def test_pitch_shift_moves_a_tone_by_the_interval_and_keeps_the_length():
    from models.episodes import pitch_shift

    sr, t = 16_000, 16_000
    x = torch.sin(2 * math.pi * 440 * torch.arange(t) / sr)[None]
    for semitones, want in ((12, 880.0), (-12, 220.0), (7, 440 * 2 ** (7 / 12))):
        y = pitch_shift(x, semitones)
        assert y.shape == x.shape
        spec = torch.fft.rfft(y[0, : sr // 2]).abs()  # the first half: both ways filled
        got = float(spec.argmax()) * 2  # bins of 2 Hz
        assert abs(got - want) < 4
    assert torch.equal(pitch_shift(x, 0), x)


def test_pitch_consistency_pulls_towards_the_frozen_networks_pitch_average(
        toy_corpus: Path, tmp_path: Path):
    from models.episodes import pitch_shift
    from models.features import LogMel
    from models.network import EmbeddingNet
    from models.train import _pitch_consistency

    first = TrainConfig(corpus=str(toy_corpus), out=str(tmp_path / "a"), episodes=6,
                        n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=3, val_episodes=2,
                        augment=False, threads=1, device="cpu", classes="all")
    torch.manual_seed(0)
    train(first, log=lambda _m: None)
    init = str(tmp_path / "a/best_net.pt")
    with pytest.raises(ValueError, match="needs --init"):
        train(TrainConfig(corpus=str(toy_corpus), out=str(tmp_path / "x"), episodes=1,
                          arch="tiny", device="cpu", pitch_consistency=1.0),
              log=lambda _m: None)
    cfg = TrainConfig(corpus=str(toy_corpus), out=str(tmp_path / "b"), episodes=4,
                      n_way=5, k_shot=2, n_query=4, arch="tiny", val_every=2, val_episodes=2,
                      augment=False, threads=1, device="cpu", classes="all", init=init,
                      pitch_consistency=1.0)
    train(cfg, log=lambda _m: None)
    rows = [json.loads(line) for line in (tmp_path / "b/log.jsonl").read_text().splitlines()]
    assert all(r["consistency"] > 0 for r in rows)
    meta = json.loads((tmp_path / "b/model.json").read_text())
    assert "--pitch-consistency 1.0 --consistency-semitones 2.0" in meta["training"]["command"]
    # the term is zero for an embedding equal to its target, and positive otherwise
    net = EmbeddingNet(cfg.network()).eval()
    logmel = LogMel(cfg.features())
    x = torch.randn(3, 16_000) * 0.1
    with torch.no_grad():
        target = torch.stack([net(logmel(pitch_shift(x, s))) for s in (-2.0, 0.0, 2.0)]).mean(0)
        assert float(_pitch_consistency(target, x, net, logmel, 2.0)) == pytest.approx(0, abs=1e-6)
        assert float(_pitch_consistency(net(logmel(x)) + 1.0, x, net, logmel, 2.0)) > 0


def test_named_architectures_build_and_a_run_config_names_its_own(tmp_path: Path):
    from models.network import EmbeddingNet
    from models.select import _run_architecture
    from models.train import architecture

    lean = sum(p.numel() for p in EmbeddingNet(architecture("lean")[1]).parameters())
    wide_features, wide_net = architecture("wide")
    net = EmbeddingNet(wide_net).eval()
    assert sum(p.numel() for p in net.parameters()) > 1.5 * lean
    mel = torch.randn(2, wide_features.n_mels, 63)
    assert net(mel).shape == (2, 128)
    with pytest.raises(ValueError, match="lean, wide"):
        architecture("huge")
    (tmp_path / "config.json").write_text(json.dumps({"arch": "wide"}), encoding="utf-8")
    assert _run_architecture(tmp_path)[1] == wide_net
