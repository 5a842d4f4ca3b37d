"""Real recordings from Debian packages as corpus sources (corpus v3, issue #11).

Two sources, each a family of packages (``sampletree corpus build --sources all`` or
``--sources ...,real_speech,real_fx``):

- ``real_speech``: human speech. Tux Paint's stamp descriptions (``*_desc[_LANG].ogg``,
  tuxpaint-stamps-default) and Asterisk's prompts (asterisk-core-sounds-en-wav) are
  *Spoken Phrase*; single letters, syllables, digits and one-word calls (KLettres,
  Tux Paint's letters and numbers, Asterisk's digits / letters / phonetic alphabet, Kajongg's
  calls) are *Vocal One-Shot*; 0 A.D.'s civilians' voice lines (0ad-data) are Spoken Phrase too.
- ``real_fx``: sound effects from three games and Tux Paint, labelled from folder and file
  names (0ad-data, wesnoth-1.16-data, openttd-opensfx, tuxpaint-stamps-default): Animal,
  Foley, Machine & Vehicle, Ambience, Hit & Smash, Whoosh, Shout & Grunt, plus
  real examples of the training classes Impact (explosions), Gunshot, Helicopter and
  Seashore.

Independence groups are the speaker or origin: the language for Tux Paint and KLettres (one
credited voice per language, mostly), one group for Asterisk (one speaker) and for Kajongg
(all its voices are credited to one person) and for 0 A.D.'s voice lines, the game for
0 A.D.'s and Wesnoth's sound effects, and each
sound's author for OpenSFX. Never read: the realset's validation packages and the reserved
held-out packages (``models.realset``); a package list that names one is refused.

Nothing is installed or downloaded here: a package is found installed (under ``/``) or
unpacked with ``dpkg-deb -x`` into a folder given as a package root (``--pkgroot``).
Sounds whose class would be a GM validation or test class (birds → Bird Tweet, telephones,
applause) are skipped, so the protocol's held-out classes get no real training relatives
they did not have before.

Clips: the file is decoded (mono), resampled to 16 kHz with soxr and cut into 1.5 s windows:
one-shots and speech from their onset (first sample within 40 dB of the peak, less 10 ms),
long beds (ambience, machines) in up to ``MAX_WINDOWS`` windows spread evenly. Byte-identical
files are read once (the first path in sorted order). Per class, at most
``CorpusOptions.real_per_class`` windows, dealt round-robin over the class's groups in a
seeded order, so no language or game swamps a class. Deterministic: the same packages and
seed give the same clips.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from models.corpus import CLIP, CLIP_S, SR, Clip, CorpusError, CorpusOptions
from models.taxonomy import Taxonomy

REAL_SOURCES = ("real_speech", "real_fx")
MAX_WINDOWS = 4  # windows of one long file (ambience beds, machines)
LONG_CLASSES = ("Ambience", "Seashore", "Machine & Vehicle", "Helicopter")
ONSET_DB = -40.0


@dataclass(frozen=True)
class Package:
    name: str  # Debian package
    probe: str  # a path under a package root that is there when the package is
    licence: str  # as its debian/copyright gives it (these are training data only)


PACKAGES = {
    "tuxpaint-stamps-default": Package("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps",
                                       "GPL-2"),
    "klettres-data": Package("klettres-data", "usr/share/klettres", "GPL-2+"),
    "kajongg": Package("kajongg", "usr/share/kajongg/voices", "GPL-2+"),
    "asterisk-core-sounds-en-wav": Package(
        "asterisk-core-sounds-en-wav", "usr/share/asterisk/sounds/en_US_f_Allison",
        "CC-BY-SA-3.0"),
    "wesnoth-1.16-data": Package("wesnoth-1.16-data",
                                 "usr/share/games/wesnoth/1.16/data/core/sounds", "GPL-2+"),
    "openttd-opensfx": Package("openttd-opensfx",
                               "usr/share/games/openttd/baseset/opensfx/opensfx.cat",
                               "CC-BY-3.0 / CC0-1.0 / CC-BY-SA-3.0, per sound"),
    "0ad-data": Package("0ad-data", "usr/share/games/0ad/mods/public/public.zip",
                        "CC-BY-SA-3.0"),
}
#: which packages each source reads (Tux Paint gives speech and stamp sounds)
SOURCE_PACKAGES = {
    "real_speech": ("tuxpaint-stamps-default", "klettres-data", "kajongg",
                    "asterisk-core-sounds-en-wav", "0ad-data"),
    "real_fx": ("0ad-data", "wesnoth-1.16-data", "openttd-opensfx", "tuxpaint-stamps-default"),
}


def refused_packages() -> set[str]:
    """Packages a training corpus must never read: the real-sample validation set's sources
    and the reserved held-out evaluation packages."""
    from models.realset import RESERVED, VALIDATION_SOURCES

    return {n.split(":", 1)[-1] for n in VALIDATION_SOURCES} | set(RESERVED)


def check_packages(names: list[str] | tuple[str, ...]) -> None:
    """Raise CorpusError if any of ``names`` is a validation or reserved package."""
    bad = sorted(set(names) & refused_packages())
    if bad:
        raise CorpusError(f"{bad[0]} is kept out of training (the real-sample validation set "
                          "or the reserved held-out packages): it cannot be a corpus source")


def roots_of(opt: CorpusOptions) -> list[Path]:
    return [Path(r) for r in opt.pkgroots] + [Path("/")]


def find_package(name: str, roots: list[Path]) -> Path | None:
    """The package root that holds ``name``, or None."""
    pkg = PACKAGES[name]
    return next((r for r in roots if (r / pkg.probe).exists()), None)


def missing_packages(opt: CorpusOptions) -> list[str]:
    roots = roots_of(opt)
    names = [p for s in opt.sources if s in REAL_SOURCES for p in SOURCE_PACKAGES[s]]
    return sorted({n for n in names if find_package(n, roots) is None})


def package_version(root: Path, name: str) -> str:
    """The Debian version from the package's changelog (installed or unpacked)."""
    try:
        with gzip.open(root / f"usr/share/doc/{name}/changelog.Debian.gz", "rt",
                       encoding="utf-8", errors="replace") as fh:
            m = re.match(r"\S+ \(([^)]+)\)", fh.readline())
        return m.group(1) if m else ""
    except OSError:
        return ""


# -- files and their labels -------------------------------------------------------------

@dataclass
class Found:
    cls: str
    group: str
    package: str
    origin: str  # path, or "archive!member", or "opensfx.cat#N"
    read: Callable[[], bytes]
    detail: str = ""


def _file(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def _audio_files(base: Path, exts: tuple[str, ...] = (".ogg", ".wav")) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.suffix.lower() in exts and p.is_file())


_DESC = re.compile(r"_desc(?:_([a-z]{2,3}(?:_[A-Za-z]{2,4})?))?\.ogg$")
_NUMBER = re.compile(r"^\d+(?:_([a-z]{2,3}(?:_[A-Za-z]{2,4})?))?\.ogg$")
_LETTER = re.compile(r"^[A-Za-z]{1,2}(?:_with_umlaut|_eszett)?_(?:filled|outline)(?:_([a-z]{2}"
                     r"(?:_[A-Z]{2})?))?\.ogg$")


def tuxpaint_speech_label(rel: str) -> tuple[str, str] | None:
    """(class, language) of a Tux Paint stamp sound that is speech, from its path under
    ``stamps/``; None for anything else."""
    name = rel.rsplit("/", 1)[-1]
    m = _DESC.search(name)
    if m:
        return "Spoken Phrase", m.group(1) or "en"
    if rel.startswith("symbols/math/"):
        m = _NUMBER.match(name)
        if m:
            return "Vocal One-Shot", m.group(1) or "en"
    if rel.startswith("symbols/alphabets/"):
        m = _LETTER.match(name)
        if m:
            return "Vocal One-Shot", m.group(1) or ("de" if "/german/" in rel else "en")
    return None


#: Tux Paint stamp sounds (not speech) by folder; birds are left out (GM's Bird Tweet is a
#: protocol test class).
TUXPAINT_FX = [
    ("animals/birds/", None),
    ("animals/", "Animal"),
    ("household/washing-machine", "Machine & Vehicle"),
    ("household/vacuum", "Machine & Vehicle"),
    ("household/", "Foley"),
    ("vehicles/", "Machine & Vehicle"),
    ("seasonal/newyears/fireworks", "Impact"),
    ("symbols/faces/", "Shout & Grunt"),  # excited, happy, mad, sad: voices, not words
]


def tuxpaint_fx_label(rel: str) -> str | None:
    if tuxpaint_speech_label(rel) is not None:
        return None
    low = rel.lower()
    return next((cls for prefix, cls in TUXPAINT_FX if low.startswith(prefix)), None)


def _tuxpaint(root: Path, speech: bool) -> Iterator[Found]:
    base = root / PACKAGES["tuxpaint-stamps-default"].probe
    for p in _audio_files(base, (".ogg",)):
        rel = p.relative_to(base).as_posix()
        if speech:
            lab = tuxpaint_speech_label(rel)
            if lab:
                yield Found(lab[0], f"tuxpaint:{lab[1]}", "tuxpaint-stamps-default", str(p),
                            _file(p))
        else:
            cls = tuxpaint_fx_label(rel)
            if cls:
                yield Found(cls, "tuxpaint:sfx", "tuxpaint-stamps-default", str(p), _file(p))


def klettres_label(rel: str) -> tuple[str, str] | None:
    """``LANG/{alpha,syllab}/X.ogg`` → (Vocal One-Shot, LANG)."""
    parts = rel.split("/")
    if len(parts) == 3 and parts[1] in ("alpha", "syllab") and parts[2].endswith(".ogg"):
        return "Vocal One-Shot", parts[0]
    return None


def _klettres(root: Path) -> Iterator[Found]:
    base = root / PACKAGES["klettres-data"].probe
    for p in _audio_files(base, (".ogg",)):
        lab = klettres_label(p.relative_to(base).as_posix())
        if lab:
            yield Found(lab[0], f"klettres:{lab[1]}", "klettres-data", str(p), _file(p))


KAJONGG_PHRASES = ("dangerousgame", "nochoice", "originalcall", "violatesoriginalcall")


def kajongg_label(rel: str) -> str | None:
    """``[de/]SPEAKER/CALL.ogg``: whole sentences are Spoken Phrase, calls Vocal One-Shot."""
    if not rel.endswith(".ogg"):
        return None
    stem = rel.rsplit("/", 1)[-1][:-4]
    return "Spoken Phrase" if stem in KAJONGG_PHRASES else "Vocal One-Shot"


def _kajongg(root: Path) -> Iterator[Found]:
    base = root / PACKAGES["kajongg"].probe
    for p in _audio_files(base, (".ogg",)):
        cls = kajongg_label(p.relative_to(base).as_posix())
        if cls:  # every voice is credited to one person: one group
            yield Found(cls, "kajongg", "kajongg", str(p), _file(p))


def asterisk_label(rel: str) -> str | None:
    """Asterisk prompts: sentences → Spoken Phrase; digits, letters and the phonetic
    alphabet → Vocal One-Shot; beeps, tones and silence are not speech."""
    parts = rel.split("/")
    if not parts[-1].endswith(".wav"):
        return None
    stem = parts[-1][:-4].lower()
    if parts[0] == "silence" or re.search(r"beep|tone|silence|^dtmf|ring", stem):
        return None
    if len(parts) == 2 and parts[0] in ("digits", "letters", "phonetic"):
        return "Vocal One-Shot"
    return "Spoken Phrase"


def _asterisk(root: Path) -> Iterator[Found]:
    base = root / PACKAGES["asterisk-core-sounds-en-wav"].probe
    for p in _audio_files(base, (".wav",)):
        cls = asterisk_label(p.relative_to(base).as_posix())
        if cls:
            yield Found(cls, "asterisk:allison", "asterisk-core-sounds-en-wav", str(p), _file(p))


_HUMANOIDS = ("human", "dwarf", "elf", "orc", "goblin", "ogre", "troll", "mermaid", "mermen",
              "zombie")
_WEAPONS = ("axe", "sword", "club", "mace", "flail", "spear", "staff", "sling", "bow",
            "crossbow", "dagger", "knife", "throwing-knife", "hatchet", "fist", "claws", "bite",
            "bite-small", "pincers", "tail", "bow-puny")


def wesnoth_label(rel: str) -> str | None:
    """Wesnoth's ``data/core/sounds`` by file name; magic spells, UI and music are skipped."""
    name = rel.rsplit("/", 1)[-1].lower()
    stem = re.sub(r"\.(ogg|wav)$", "", name)
    if stem == name:
        return None
    if rel.startswith("ambient/"):
        return "Ambience" if stem in ("campfire", "night", "ship") else None  # birds: no
    base = re.sub(r"-\d+$", "", stem)
    miss = base.endswith("-miss")
    base = base.removesuffix("-miss").removesuffix("-fire")
    if base.startswith(_HUMANOIDS) or base in ("groan", "ugg", "wail", "wail-long",
                                                 "wail-sml", "dwarf-laugh"):
        return "Shout & Grunt"
    if base.startswith(("wolf", "hiss")) or base in ("horse-die", "horse-hit"):
        return "Animal"
    if base in ("gunshot", "thunderstick"):
        return "Gunshot"
    if base in ("explosion", "cave-in"):
        return "Impact"
    if base in ("miss", "throw", "dagger-swish") or (miss and base in _WEAPONS):
        return "Whoosh"
    if base in _WEAPONS:
        return "Hit & Smash"
    if base in ("open-chest", "gold", "potion"):
        return "Foley"
    return None


def _wesnoth(root: Path) -> Iterator[Found]:
    base = root / PACKAGES["wesnoth-1.16-data"].probe
    for p in _audio_files(base):
        cls = wesnoth_label(p.relative_to(base).as_posix())
        if cls:
            yield Found(cls, "wesnoth", "wesnoth-1.16-data", str(p), _file(p))


#: OpenSFX entries by their title (the text in quotes at the start of the description).
OPENSFX_RULES: list[tuple[str, str | None]] = [
    ("toyland", None), ("bird", None), ("applause", None), ("year", None), ("beep", None),
    ("morse", None), ("oooh", None), ("unused", None), ("wheels touching", None),
    ("helicopter", "Helicopter"),
    ("explosion", "Impact"),
    ("tree", "Foley"),
    ("crash", "Hit & Smash"),
    ("sheep", "Animal"), ("cow", "Animal"), ("horse", "Animal"), ("lion", "Animal"),
    ("monkeys", "Animal"),
    ("wind", "Ambience"),
    ("splat", "Foley"), ("cash till", "Foley"), ("bridge", "Foley"), ("breakdown", "Foley"),
    ("horn", "Machine & Vehicle"), ("train", "Machine & Vehicle"), ("plane", "Machine & Vehicle"),
    ("jet", "Machine & Vehicle"), ("bus", "Machine & Vehicle"), ("truck", "Machine & Vehicle"),
    ("steam", "Machine & Vehicle"), ("machinery", "Machine & Vehicle"),
    ("jackhammer", "Machine & Vehicle"), ("chainsaw", "Machine & Vehicle"),
    ("sawmill", "Machine & Vehicle"), ("whistle", "Machine & Vehicle"),
    ("sparking", "Machine & Vehicle"), ("level crossing", "Machine & Vehicle"),
]


def opensfx_label(title: str) -> str | None:
    low = title.lower()
    return next((cls for key, cls in OPENSFX_RULES if key in low), None)


def opensfx_author(desc: str) -> str:
    """The sound's (first) author: ``Original "x" by "A"`` or ``By A.``."""
    m = re.search(r'\bby\s+(?:"([^"]+)"|([^."]+?)(?:\.|,| and | aka ))', desc, re.IGNORECASE)
    author = (m.group(1) or m.group(2)).strip() if m else "unknown"
    return re.sub(r"\s+", " ", author).lower()


def opensfx_entries(data: bytes) -> list[tuple[str, bytes]]:
    """(description, RIFF WAV) of every entry of OpenTTD's ``opensfx.cat``."""
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    out = []
    for i in range(first // 8):
        off, size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        n = data[off]
        desc = data[off + 1:off + 1 + n].split(b"\0")[0].decode("latin-1")
        out.append((desc, data[off + 1 + n:off + size]))
    return out


def _opensfx(root: Path) -> Iterator[Found]:
    cat = root / PACKAGES["openttd-opensfx"].probe
    for i, (desc, wav) in enumerate(opensfx_entries(cat.read_bytes())):
        m = re.match(r'"([^"]*)"', desc)
        cls = opensfx_label(m.group(1) if m else desc)
        if cls and len(wav) > 64:
            lic = re.search(r"License:\s*([^.]+(?:\.\d[^.]*)?)", desc)
            yield Found(cls, f"opensfx:{opensfx_author(desc)}", "openttd-opensfx",
                        f"{cat}#{i}", (lambda w=wav: w),
                        detail=lic.group(1).strip() if lic else "")


#: 0 A.D.'s ``audio/`` folders and names (first match wins). Music, the interface, siege
#: engines, ships and birds are skipped; its civilians' voice lines are real_speech.
ZERO_AD_RULES: list[tuple[str, str | None]] = [
    ("audio/music/", None), ("audio/interface/", None), ("audio/attack/siege/", None),
    ("audio/actor/ship/", None), ("audio/actor/mounted/", None),
    ("bird", None), ("chicken", None), ("flamingo", None), ("peacock", None),
    ("audio/ambient/dayscape/", None),  # nature beds full of birdsong
    ("audio/ambient/water/wave", "Seashore"),
    ("audio/ambient/", "Ambience"),
    ("audio/attack/fire/", "Ambience"),  # fire crackling beds
    ("audio/attack/destruction/", "Impact"),
    ("audio/actor/fauna/movement/", None),
    ("audio/actor/fauna/", "Animal"),
    ("audio/voice/global/civ_dog", "Animal"),
    ("audio/actor/human/death/", "Shout & Grunt"),
    ("audio/actor/", "Foley"),  # footsteps, gates
    ("audio/attack/impact/", "Hit & Smash"),
    ("audio/attack/weapon/musket", "Gunshot"),
    ("audio/attack/weapon/swordhit", "Hit & Smash"),
    ("audio/attack/weapon/", "Whoosh"),  # arrows flying, slings, spear / sword swings
    ("audio/resource/", "Foley"),  # chopping, mining, gathering, building
    ("audio/voice/", None),
]
_ZERO_AD_VOICE = re.compile(r"^audio/voice/([a-z]+)/civ/civ_[a-z]+_.*\.ogg$")


def zero_ad_label(member: str) -> str | None:
    low = member.lower()
    if not low.startswith("audio/") or not low.endswith((".ogg", ".wav")):
        return None
    return next((cls for key, cls in ZERO_AD_RULES if key in low), None)


def zero_ad_speech_label(member: str) -> str | None:
    """0 A.D.'s civilians' voice lines (``audio/voice/LANG/civ/civ_*.ogg``, in four reconstructed
    ancient languages) → their language; everything else None."""
    m = _ZERO_AD_VOICE.match(member.lower())
    return m.group(1) if m and m.group(1) != "global" else None


def _zero_ad(root: Path, speech: bool = False) -> Iterator[Found]:
    path = root / PACKAGES["0ad-data"].probe
    zf = zipfile.ZipFile(path)
    for member in sorted(zf.namelist()):
        if speech:  # the voice actors are not credited per language: one group
            if zero_ad_speech_label(member):
                yield Found("Spoken Phrase", "0ad:voice", "0ad-data", f"{path}!{member}",
                            (lambda m=member: zf.read(m)))
            continue
        cls = zero_ad_label(member)
        if cls:
            yield Found(cls, "0ad", "0ad-data", f"{path}!{member}",
                        (lambda m=member: zf.read(m)))


LISTERS: dict[str, dict[str, Callable[[Path], Iterator[Found]]]] = {
    "real_speech": {"tuxpaint-stamps-default": lambda r: _tuxpaint(r, speech=True),
                    "klettres-data": _klettres, "kajongg": _kajongg,
                    "asterisk-core-sounds-en-wav": _asterisk,
                    "0ad-data": lambda r: _zero_ad(r, speech=True)},
    "real_fx": {"0ad-data": _zero_ad, "wesnoth-1.16-data": _wesnoth,
                "openttd-opensfx": _opensfx,
                "tuxpaint-stamps-default": lambda r: _tuxpaint(r, speech=False)},
}
assert all(set(LISTERS[s]) == set(SOURCE_PACKAGES[s]) for s in REAL_SOURCES)


# -- audio ------------------------------------------------------------------------------

def decode(data: bytes) -> np.ndarray | None:
    """Mono float32 at SR, or None when the file cannot be read."""
    try:
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
        return None
    if not len(y):
        return None
    y = y.mean(axis=1)
    if sr != SR:
        y = soxr.resample(y, sr, SR, quality="HQ").astype(np.float32)
    return np.nan_to_num(y)


def windows(y: np.ndarray, long: bool) -> list[int]:
    """Start samples of the 1.5 s windows taken from a decoded file."""
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak <= 0:
        return []
    loud = np.flatnonzero(np.abs(y) > peak * 10 ** (ONSET_DB / 20))
    onset = max(0, int(loud[0]) - SR // 100)
    if not long or len(y) - onset < 2 * CLIP:
        return [onset]
    n = min(MAX_WINDOWS, (len(y) - onset) // CLIP)
    span = len(y) - onset - CLIP
    return [onset + round(span * k / (n - 1)) for k in range(n)] if n > 1 else [onset]


def cut(y: np.ndarray, start: int) -> np.ndarray:
    out = np.zeros(CLIP, np.float32)
    seg = y[start:start + CLIP]
    out[: len(seg)] = seg
    return out


# -- the build --------------------------------------------------------------------------

def _deal(items: list[tuple[str, Found]], cap: int, seed: int, cls: str) -> list[Found]:
    """At most ``cap`` of a class's files, round-robin over its groups; within a group in
    an order set by a hash of (seed, origin), the groups in an order set by the seed."""
    by_group: dict[str, list[Found]] = {}
    for _, f in items:
        by_group.setdefault(f.group, []).append(f)

    def key(s: str) -> str:
        return hashlib.sha1(f"{seed}:{cls}:{s}".encode()).hexdigest()

    queues = [sorted(by_group[g], key=lambda f: key(f.origin)) for g in
              sorted(by_group, key=key)]
    out: list[Found] = []
    k = 0
    while len(out) < cap and any(k < len(q) for q in queues):
        out.extend(q[k] for q in queues if k < len(q) and len(out) < cap)
        k += 1
    return out


def real_clips(opt: CorpusOptions, taxonomy: Taxonomy, sources: list[str],
               log: Callable[[str], None] = print,
               stats: dict | None = None) -> Iterator[tuple[Clip, np.ndarray]]:
    """(clip, audio) of the real sources, class by class (sorted); ``stats`` gets, per
    package, its version, licence and root."""
    roots = roots_of(opt)
    found: list[Found] = []
    for source in sources:
        check_packages(SOURCE_PACKAGES[source])
        for name in SOURCE_PACKAGES[source]:
            root = find_package(name, roots)
            if root is None:
                raise CorpusError(f"{source} needs the Debian package {name}: apt-get install "
                                  f"{name}, or unpack its .deb with dpkg-deb -x into a folder "
                                  "given as --pkgroot")
            if stats is not None:
                stats.setdefault(name, {"licence": PACKAGES[name].licence,
                                        "version": package_version(root, name),
                                        "root": str(root)})
            n = 0
            for f in LISTERS[source][name](root):
                if opt.extra_classes is not None and f.cls not in opt.extra_classes:
                    continue
                if f.cls not in taxonomy.classes or taxonomy.split_of(f.cls) != "train":
                    # only training classes: a real relative must not reach a held-out class
                    continue
                found.append(f)
                n += 1
            log(f"  {source}: {n} files from {name}")
    by_class: dict[str, list[tuple[str, Found]]] = {}
    for f in found:
        by_class.setdefault(f.cls, []).append((f.origin, f))
    seen: set[str] = set()
    for cls in sorted(by_class):
        # deal more files than the cap: duplicates and unreadable files drop out below
        chosen = _deal(sorted(by_class[cls], key=lambda t: t[0]), 10**9, opt.seed, cls)
        n_cls = 0
        for f in chosen:
            if n_cls >= opt.real_per_class:
                break
            data = f.read()
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            y = decode(data)
            if y is None:
                log(f"  unreadable, skipped: {f.origin}")
                continue
            for start in windows(y, cls in LONG_CLASSES):
                if n_cls >= opt.real_per_class:
                    break
                n_cls += 1
                yield (Clip(cls, f.package, f.group, "real", file=f.origin,
                            length_s=round(len(y) / SR, 3),
                            detail=f"at {start / SR:.2f} s" + (f", {f.detail}" if f.detail
                                                                else "")),
                       cut(y, start))
        log(f"  {cls}: {n_cls} real clips")


def summary(meta: list[Clip], stats: dict) -> dict:
    """Per package: licence, version, clips, minutes and clips per class."""
    out: dict[str, dict] = {}
    for name, info in sorted(stats.items()):
        mine = [c for c in meta if c.source == name and c.kind == "real"]
        classes: dict[str, int] = {}
        for c in mine:
            classes[c.cls] = classes.get(c.cls, 0) + 1
        out[name] = {**info, "clips": len(mine),
                     "minutes": round(len(mine) * CLIP_S / 60, 1),
                     "groups": len({c.group for c in mine}),
                     "classes": dict(sorted(classes.items()))}
    return out
