"""``sampletree duplicates``: groups of duplicate files, and moving the extra copies away."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import EXIT_OK, JSON_HELP, command, open_library, printable, shown
from core.words import plural


def register(sub: argparse._SubParsersAction) -> None:
    d = command(
        sub, "duplicates", "groups of duplicate files, the copy to keep, and a quarantine "
                           "for the others",
        description="Groups of files holding the same audio. Exact duplicates decode to "
                    "the very same samples (a WAV and a FLAC of one recording, a copy with "
                    "other tags); with --near also copies re-encoded (MP3, OGG, FLAC), "
                    "resampled, gain-changed, trimmed or padded. Each group names the copy "
                    "to keep: the higher bit depth (float as 24-bit), lossless over lossy, "
                    "then the higher sample rate and channel count, then an example in a "
                    "tree, then a name that does not look like a copy's (\"X copy\", "
                    "\"Copy of X\", \"X (1)\"), then a name that states tempo, key or note, "
                    "then the shortest path. "
                    "--quarantine DIR shows "
                    "where the other copies would go; with --apply they are moved there as "
                    "a relabel batch (journaled; `sampletree undo BATCH` puts them back; "
                    "nothing is deleted).",
        examples=("sampletree duplicates", "sampletree duplicates --near --json",
                  "sampletree duplicates --near --quarantine ~/Duplicates",
                  "sampletree duplicates --near --quarantine ~/Duplicates --apply"))
    d.add_argument("--near", action="store_true",
                   help="also near duplicates (re-encoded, resampled, gain-changed, trimmed "
                        "or padded copies); needs embedded files")
    d.add_argument("--quarantine", metavar="DIR",
                   help="plan moving every copy but the keeper into DIR (outside the scanned "
                        "folders), under the name of its scanned folder; a preview unless "
                        "--apply")
    d.add_argument("--apply", action="store_true",
                   help="with --quarantine: move the copies (undo with `sampletree undo "
                        "BATCH`)")
    d.add_argument("--json", action="store_true", help=JSON_HELP)
    d.set_defaults(func=cmd_duplicates, parser=d)


def _line(m: Any) -> str:
    tag = "keep" if m.keep else m.match
    extra = ""
    if m.match == "near" and m.similarity is not None:
        extra = f"  (waveform {m.similarity:.3f}, {round(m.gain_db or 0.0, 1) + 0.0:+.1f} dB)"
    return f"  {tag:<6} {shown(m.path)}  [{m.quality()}]{extra}"


def cmd_duplicates(args: argparse.Namespace) -> int:
    from core.duplicates import find_duplicates, plan_quarantine
    from core.relabel import apply_batch, discard_batch, preview
    from core.relabel.reports import SKIP_REASONS

    if args.apply and not args.quarantine:
        args.parser.error("--apply moves the copies into the --quarantine folder: give it")
    with open_library(args, create=False) as lib:
        report = find_duplicates(lib, near=args.near)
        batch_id = None
        moves: list[dict[str, Any]] = []
        applied = None
        skipped: dict[str, int] = {}
        if args.quarantine and report.groups:
            batch_id, _ops = plan_quarantine(lib, report.groups, args.quarantine,
                                             skipped_out=skipped)
            moves = preview(lib, batch_id)
            if not args.apply or not moves:
                discard_batch(lib, batch_id)  # a preview stores nothing
                batch_id = None
            else:
                from core.joblock import JobBusy

                try:
                    applied = apply_batch(lib, batch_id)
                except JobBusy:  # a scan or relabel runs: refused before any step, so
                    discard_batch(lib, batch_id)  # the batch just planned goes too
                    raise
    out = report.as_dict()
    if args.quarantine:
        out["quarantine"] = {
            "dest": args.quarantine, "applied": applied is not None, "batch": batch_id,
            "moves": [{"src": printable(r["src"]), "dst": printable(r["dst"]),
                       "state": r["state"] if applied is None else None} for r in moves],
            "skipped": {k: n for k, n in skipped.items() if n}}  # keys as relabel --json
        if applied is not None:
            out["quarantine"]["report"] = applied.as_dict()
    if args.json:
        print(json.dumps(out, indent=1, default=printable))
    else:
        for g in report.groups:
            print(f"group {g.id} ({g.kind}, {plural(len(g.members), 'file')}): keep "
                  f"{shown(g.keeper.path)} — {g.reason}")
            for m in g.members:
                print(_line(m))
        if args.quarantine:
            for r in moves:
                print(f"move {shown(r['src'])}\n  → {shown(r['dst'])}")
            if any(skipped.values()):
                print("left alone: " + ", ".join(
                    f"{plural(skipped[k], 'copy', 'copies')} {why}"
                    for k, why in SKIP_REASONS.items() if skipped.get(k)))
            if applied is not None:
                print(f"batch {batch_id}: {applied.message}; undo with "
                      f"`sampletree undo {batch_id}`")
            elif moves:
                print(f"preview: {plural(len(moves), 'copy')} would move; nothing changed "
                      "(add --apply to move them)")
    kind = "exact and near" if args.near else "exact"
    print(f"{plural(len(report.groups), 'group')} of {kind} duplicates, "
          f"{plural(report.extras, 'extra copy', 'extra copies')} "
          f"({plural(report.files, 'file')} checked, {report.seconds:.2f} s)", file=sys.stderr)
    if report.note:
        print(f"sampletree: note: {report.note}", file=sys.stderr)
    if report.unfingerprinted:
        n = report.unfingerprinted
        print(f"sampletree: note: {plural(n, 'file')} {'was' if n == 1 else 'were'} "
              "scanned before "
              "duplicates were looked for; rescan their folders to include them",
              file=sys.stderr)
    if args.apply and applied is not None and (applied.failed or applied.state == "failed"):
        from core.errors import SampletreeError

        raise SampletreeError(f"batch {batch_id} stopped: {applied.message}; undo it with "
                              f"`sampletree undo {batch_id}`")
    return EXIT_OK
