"""Writes models/taxonomy.json: the corpus classes on an instrument tree, and their split.

Run once; the JSON is committed and is the fixed split every training run and every
evaluation uses. ``python scripts/make_taxonomy.py`` is reproducible (seeded).

Tree: root → Hornbostel–Sachs class → family → instrument (leaf). Leaves are the 128
General MIDI programs plus the GM percussion pieces (which the Hydrogen kits also
record), and (version 2) a producer's library: synth one-shots, FX, drum loops, music
loops and vocals (``EXTRA``), on families of their own or beside their relatives; and
(version 3) classes of real recordings from Debian packages (``EXTRA_V3``,
models/realsources.py): vocal one-shots, shouts, animals, foley, machines, ambience,
hits and whooshes.
Split: per family, about 60 % of the leaves train, 15 % validation and 25 %
test, so every test class has relatives (siblings) in training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "models" / "taxonomy.json"

# GM program → (leaf name, family). Families are grouped under Hornbostel–Sachs classes below.
GM = [
    ("Acoustic Grand Piano", "Piano"), ("Bright Acoustic Piano", "Piano"),
    ("Electric Grand Piano", "Piano"), ("Honky-tonk Piano", "Piano"),
    ("Electric Piano 1", "Electric Keys"), ("Electric Piano 2", "Electric Keys"),
    ("Harpsichord", "Plucked Keys"), ("Clavinet", "Plucked Keys"),
    ("Celesta", "Mallets"), ("Glockenspiel", "Mallets"), ("Music Box", "Mallets"),
    ("Vibraphone", "Mallets"), ("Marimba", "Mallets"), ("Xylophone", "Mallets"),
    ("Tubular Bells", "Bells"), ("Dulcimer", "Struck Strings"),
    ("Drawbar Organ", "Electric Organ"), ("Percussive Organ", "Electric Organ"),
    ("Rock Organ", "Electric Organ"), ("Church Organ", "Pipe Organ"),
    ("Reed Organ", "Free Reeds"), ("Accordion", "Free Reeds"), ("Harmonica", "Free Reeds"),
    ("Tango Accordion", "Free Reeds"),
    ("Nylon Guitar", "Guitar"), ("Steel Guitar", "Guitar"), ("Jazz Guitar", "Guitar"),
    ("Clean Electric Guitar", "Guitar"), ("Muted Electric Guitar", "Guitar"),
    ("Overdriven Guitar", "Guitar"), ("Distortion Guitar", "Guitar"),
    ("Guitar Harmonics", "Guitar"),
    ("Acoustic Bass", "Bass"), ("Fingered Electric Bass", "Bass"),
    ("Picked Electric Bass", "Bass"), ("Fretless Bass", "Bass"), ("Slap Bass 1", "Bass"),
    ("Slap Bass 2", "Bass"), ("Synth Bass 1", "Synth Bass"), ("Synth Bass 2", "Synth Bass"),
    ("Violin", "Bowed Strings"), ("Viola", "Bowed Strings"), ("Cello", "Bowed Strings"),
    ("Contrabass", "Bowed Strings"), ("Tremolo Strings", "String Ensemble"),
    ("Pizzicato Strings", "String Ensemble"), ("Orchestral Harp", "Harp & Zither"),
    ("Timpani", "Orchestral Drums"),
    ("String Ensemble 1", "String Ensemble"), ("String Ensemble 2", "String Ensemble"),
    ("Synth Strings 1", "Synth Strings & Brass"), ("Synth Strings 2", "Synth Strings & Brass"),
    ("Choir Aahs", "Voice"), ("Voice Oohs", "Voice"), ("Synth Voice", "Voice"),
    ("Orchestra Hit", "Sound Effects"),
    ("Trumpet", "Brass"), ("Trombone", "Brass"), ("Tuba", "Brass"), ("Muted Trumpet", "Brass"),
    ("French Horn", "Brass"), ("Brass Section", "Brass"),
    ("Synth Brass 1", "Synth Strings & Brass"), ("Synth Brass 2", "Synth Strings & Brass"),
    ("Soprano Sax", "Saxophones"), ("Alto Sax", "Saxophones"), ("Tenor Sax", "Saxophones"),
    ("Baritone Sax", "Saxophones"), ("Oboe", "Double Reeds"), ("English Horn", "Double Reeds"),
    ("Bassoon", "Double Reeds"), ("Clarinet", "Single Reeds"),
    ("Piccolo", "Flutes"), ("Flute", "Flutes"), ("Recorder", "Flutes"), ("Pan Flute", "Flutes"),
    ("Blown Bottle", "Flutes"), ("Shakuhachi", "Flutes"), ("Whistle", "Flutes"),
    ("Ocarina", "Flutes"),
    ("Square Lead", "Synth Lead"), ("Sawtooth Lead", "Synth Lead"),
    ("Calliope Lead", "Synth Lead"), ("Chiff Lead", "Synth Lead"),
    ("Charang Lead", "Synth Lead"), ("Voice Lead", "Synth Lead"), ("Fifths Lead", "Synth Lead"),
    ("Bass + Lead", "Synth Lead"),
    ("New Age Pad", "Synth Pad"), ("Warm Pad", "Synth Pad"), ("Polysynth Pad", "Synth Pad"),
    ("Choir Pad", "Synth Pad"), ("Bowed Pad", "Synth Pad"), ("Metallic Pad", "Synth Pad"),
    ("Halo Pad", "Synth Pad"), ("Sweep Pad", "Synth Pad"),
    ("Rain FX", "Synth FX"), ("Soundtrack FX", "Synth FX"), ("Crystal FX", "Synth FX"),
    ("Atmosphere FX", "Synth FX"), ("Brightness FX", "Synth FX"), ("Goblins FX", "Synth FX"),
    ("Echoes FX", "Synth FX"), ("Sci-fi FX", "Synth FX"),
    ("Sitar", "World Plucked"), ("Banjo", "World Plucked"), ("Shamisen", "World Plucked"),
    ("Koto", "World Plucked"), ("Kalimba", "Lamellophones"), ("Bagpipe", "Double Reeds"),
    ("Fiddle", "Bowed Strings"), ("Shanai", "Double Reeds"),
    ("Tinkle Bell", "Bells"), ("Agogo", "Bells"), ("Steel Drums", "Mallets"),
    ("Woodblock", "Wood Percussion"), ("Taiko Drum", "Orchestral Drums"),
    ("Melodic Tom", "Toms"), ("Synth Drum", "Electronic Drums"),
    ("Reverse Cymbal", "Cymbals"),
    ("Guitar Fret Noise", "Sound Effects"), ("Breath Noise", "Sound Effects"),
    ("Seashore", "Sound Effects"), ("Bird Tweet", "Sound Effects"),
    ("Telephone Ring", "Sound Effects"), ("Helicopter", "Sound Effects"),
    ("Applause", "Sound Effects"), ("Gunshot", "Sound Effects"),
]
assert len(GM) == 128

# Playable MIDI range by family (approximate, from each instrument's written range).
RANGE = {
    "Piano": (21, 108), "Electric Keys": (28, 103), "Plucked Keys": (29, 89),
    "Mallets": (48, 96), "Bells": (60, 84), "Struck Strings": (48, 84),
    "Electric Organ": (36, 96), "Pipe Organ": (36, 96), "Free Reeds": (53, 89),
    "Guitar": (40, 84), "Bass": (28, 67), "Synth Bass": (28, 67),
    "Bowed Strings": (36, 96), "String Ensemble": (36, 96), "Harp & Zither": (24, 103),
    "Orchestral Drums": (40, 60), "Synth Strings & Brass": (36, 96), "Voice": (48, 81),
    "Brass": (34, 82), "Saxophones": (44, 81), "Double Reeds": (46, 91),
    "Single Reeds": (50, 91), "Flutes": (60, 96), "Synth Lead": (48, 96),
    "Synth Pad": (36, 84), "Synth FX": (36, 84), "World Plucked": (48, 84),
    "Lamellophones": (60, 84), "Wood Percussion": (60, 84), "Toms": (40, 64),
    "Electronic Drums": (40, 64), "Cymbals": (48, 72), "Sound Effects": (48, 72),
}
# Narrower ranges where the family's is wrong for one instrument.
PROGRAM_RANGE = {
    "Viola": (48, 88), "Cello": (36, 76), "Contrabass": (28, 67), "Violin": (55, 100),
    "Fiddle": (55, 96), "Tuba": (28, 58), "Trombone": (40, 72), "French Horn": (41, 77),
    "Trumpet": (54, 84), "Muted Trumpet": (54, 84), "Piccolo": (74, 108),
    "Bassoon": (34, 75), "Baritone Sax": (36, 69), "Tenor Sax": (44, 76),
    "Soprano Sax": (56, 88), "Alto Sax": (49, 81), "Glockenspiel": (72, 108),
    "Xylophone": (65, 108), "Marimba": (45, 96), "Celesta": (60, 108), "Timpani": (40, 57),
    "Taiko Drum": (36, 60),
}

# GM percussion (channel 10) note → leaf; Hydrogen kit instrument names map to the same.
DRUMS = {
    "Kick": ("Drum Kit", [35, 36]),
    "Snare": ("Drum Kit", [38, 40]),
    "Side Stick": ("Drum Kit", [37]),
    "Tom": ("Toms", [41, 43, 45, 47, 48, 50]),
    "Closed Hi-Hat": ("Hi-Hats", [42, 44]),
    "Open Hi-Hat": ("Hi-Hats", [46]),
    "Crash Cymbal": ("Cymbals", [49, 57]),
    "Ride Cymbal": ("Cymbals", [51, 59]),
    "Ride Bell": ("Cymbals", [53]),
    "China Cymbal": ("Cymbals", [52]),
    "Splash Cymbal": ("Cymbals", [55]),
    "Hand Clap": ("Body Percussion", [39]),
    "Tambourine": ("Shakers & Jingles", [54]),
    "Cowbell": ("Bells", [56]),
    "Vibraslap": ("Shakers & Jingles", [58]),
    "Bongo": ("Hand Drums", [60, 61]),
    "Conga": ("Hand Drums", [62, 63, 64]),
    "Timbale": ("Hand Drums", [65, 66]),
    "Agogo Bell": ("Bells", [67, 68]),
    "Shaker": ("Shakers & Jingles", [69, 70]),
    "Samba Whistle": ("Flutes", [71, 72]),
    "Guiro": ("Wood Percussion", [73, 74]),
    "Claves": ("Wood Percussion", [75]),
    "Wood Block": ("Wood Percussion", [76, 77]),
    "Cuica": ("Hand Drums", [78, 79]),
    "Triangle": ("Bells", [80, 81]),
}

# The producer's sources (issue #11): leaf → (family, corpus source). Procedural synth and FX
# (models/synth.py), drum loops sequenced from the kits and phrases played by the GM
# programs (models/phrases.py), speech and vocal chops by espeak-ng (models/vocals.py).
EXTRA = {
    "808 Kick": ("Electronic Drums", "synth"), "Noise Hi-Hat": ("Electronic Drums", "synth"),
    "Synth Clap": ("Electronic Drums", "synth"),
    "Reese Bass": ("Synth Bass", "synth"), "Wobble Bass": ("Synth Bass", "synth"),
    "Sub Bass": ("Synth Bass", "synth"),
    "Analog Lead": ("Synth Lead", "synth"), "Analog Pad": ("Synth Pad", "synth"),
    "Saw Pluck": ("Synth Plucks", "synth"), "FM Pluck": ("Synth Plucks", "synth"),
    "Riser": ("Transitions", "fx"), "Downlifter": ("Transitions", "fx"),
    "Sweep": ("Transitions", "fx"), "Impact": ("Impacts", "fx"),
    "Reverb Tail": ("Impacts", "fx"), "Noise Bed": ("Textures", "fx"),
    "Vinyl Crackle": ("Textures", "fx"),
    "Boom Bap Loop": ("Drum Loops", "drum_loop"), "House Loop": ("Drum Loops", "drum_loop"),
    "Rock Loop": ("Drum Loops", "drum_loop"), "Trap Loop": ("Drum Loops", "drum_loop"),
    "Breakbeat Loop": ("Drum Loops", "drum_loop"),
    "Percussion Loop": ("Drum Loops", "drum_loop"),
    "Bass Line": ("Music Loops", "phrase"), "Chord Stabs": ("Music Loops", "phrase"),
    "Arpeggio": ("Music Loops", "phrase"), "Chord Progression": ("Music Loops", "phrase"),
    "Spoken Phrase": ("Vocal Chops", "vocal"), "Whispered Phrase": ("Vocal Chops", "vocal"),
    "Vocal Chop": ("Vocal Chops", "vocal"),
}

# Version 3 (issue #11): classes of the real recordings in Debian packages
# (models/realsources.py): leaf → (family, corpus source). Real speech and FX also add
# examples to some existing training classes (Spoken Phrase, Impact, Gunshot, Helicopter,
# Seashore).
EXTRA_V3 = {
    "Vocal One-Shot": ("Vocal Chops", "real_speech"),
    "Shout & Grunt": ("Vocal Chops", "real_fx"),
    "Hit & Smash": ("Impacts", "real_fx"),
    "Whoosh": ("Transitions", "real_fx"), "Ambience": ("Textures", "real_fx"),
    "Animal": ("Animals", "real_fx"),
    "Foley": ("Foley", "real_fx"), "Machine & Vehicle": ("Foley", "real_fx"),
}

# Family → Hornbostel–Sachs class (plus electrophones and sound effects, as the paper's tree).
HS = {
    "Chordophones": ["Piano", "Plucked Keys", "Struck Strings", "Guitar", "Bass",
                     "Bowed Strings", "String Ensemble", "Harp & Zither", "World Plucked"],
    "Aerophones": ["Pipe Organ", "Free Reeds", "Brass", "Saxophones", "Double Reeds",
                   "Single Reeds", "Flutes", "Voice"],
    "Idiophones": ["Mallets", "Bells", "Lamellophones", "Wood Percussion", "Cymbals",
                   "Hi-Hats", "Shakers & Jingles", "Body Percussion"],
    "Membranophones": ["Drum Kit", "Toms", "Hand Drums", "Orchestral Drums"],
    "Electrophones": ["Electric Keys", "Electric Organ", "Synth Bass", "Synth Strings & Brass",
                      "Synth Lead", "Synth Pad", "Synth FX", "Electronic Drums", "Synth Plucks"],
    "Sound Effects": ["Sound Effects", "Transitions", "Impacts", "Textures", "Animals",
                      "Foley"],
    "Loops": ["Drum Loops", "Music Loops"],
    "Vocals": ["Vocal Chops"],
}

SPLIT_SEED = 2021


def main() -> None:
    leaves: dict[str, dict] = {}
    for program, (name, family) in enumerate(GM):
        lo, hi = PROGRAM_RANGE.get(name, RANGE[family])
        leaves[name] = {"family": family, "program": program, "range": [lo, hi]}
    for name, (family, notes) in DRUMS.items():
        leaves[name] = {"family": family, "drum_notes": notes}
    family_hs = {fam: hs for hs, fams in HS.items() for fam in fams}
    missing = {v["family"] for v in leaves.values()} - set(family_hs)
    assert not missing, missing

    # Split per family: a family of n leaves gives round(0.25 n) to test and round(0.15 n)
    # to validation, never all of them (the rest train), so test classes have relatives.
    # The producer's leaves are split the same way among themselves, with their own seed,
    # so that no class of version 1 (GM programs, drum pieces) changes side.
    split: dict[str, str] = {}
    # Version 3's leaves, likewise, with a third seed: no class of versions 1-2 moves.
    extra = {name: {"family": fam, "source": src} for name, (fam, src) in EXTRA.items()}
    extra3 = {name: {"family": fam, "source": src} for name, (fam, src) in EXTRA_V3.items()}
    assert not set(extra) & set(leaves) and not set(extra3) & (set(leaves) | set(extra))
    for group, seed in ((leaves, SPLIT_SEED), (extra, SPLIT_SEED + 11),
                        (extra3, SPLIT_SEED + 22)):
        rng = random.Random(seed)
        group_families: dict[str, list[str]] = {}
        for name, v in group.items():
            group_families.setdefault(v["family"], []).append(name)
        for family in sorted(group_families):
            names = sorted(group_families[family])
            rng.shuffle(names)
            n = len(names)
            n_test = round(0.25 * n) if n >= 3 else 0
            n_val = round(0.15 * n) if n >= 4 else 0
            for i, name in enumerate(names):
                split[name] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    leaves.update(extra)
    leaves.update(extra3)
    missing = {v["family"] for v in leaves.values()} - set(family_hs)
    assert not missing, missing
    by_family: dict[str, list[str]] = {}
    for name, v in leaves.items():
        by_family.setdefault(v["family"], []).append(name)

    tree = {"name": "Instruments", "children": []}
    for hs, families in HS.items():
        hs_node = {"name": hs, "children": []}
        for family in families:
            kids = [{"name": n} for n in sorted(by_family.get(family, []))]
            if kids:
                hs_node["children"].append({"name": family, "children": kids})
        tree["children"].append(hs_node)
    for name, v in leaves.items():
        v["split"] = split[name]
    counts = {s: sum(1 for v in split.values() if v == s) for s in ("train", "val", "test")}
    doc = {
        "version": 3,
        "about": "Corpus classes of Sampletree's network on a Hornbostel–Sachs tree "
                 "(root → H-S class → family → instrument; version 2 adds a producer's "
                 "synths, FX, loops and vocals, version 3 classes of real speech and "
                 "sound effects from Debian packages), with a fixed class split. "
                 "Made by scripts/make_taxonomy.py.",
        "split_counts": counts,
        "tree": tree,
        "classes": dict(sorted(leaves.items())),
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(leaves)} classes, {counts}")


if __name__ == "__main__":
    main()
