"""Commands that look after the library file itself: check, backups, restore."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from app.common import EXIT_ERROR, EXIT_OK, command, shown
from app.paths import default_library_path
from core.errors import SampletreeError
from core.words import plural


def register(sub: argparse._SubParsersAction) -> None:
    c = command(
        sub, "check", "read the whole library and report damage (exit 1 when damaged)",
        examples=("sampletree check", "sampletree --library x.sqlite check --json"),
        description="Runs SQLite's full integrity check and the foreign-key check over the "
                    "library. A damaged library is marked so, and no command writes to it "
                    "until a check passes again or it is restored.")
    c.add_argument("--json", action="store_true", help="print the verdict as JSON")
    c.set_defaults(func=cmd_check)

    b = command(
        sub, "backups", "list the library's automatic backups",
        examples=("sampletree backups",),
        description="A backup is taken before each scan, relabel, undo and upgrade (when "
                    "the library changed since the last one); the newest three are kept in "
                    "LIBRARY.backups/ ($SAMPLETREE_BACKUPS sets how many, 0 none). The "
                    "backups taken before `tree rm` are kept apart: later scans never "
                    "remove them, the newest five are kept.")
    b.add_argument("--json", action="store_true", help="print the list as JSON")
    b.set_defaults(func=cmd_backups)

    r = command(
        sub, "restore", "put back the last good backup, then rescan the library's folders",
        examples=("sampletree restore", "sampletree restore --from LIBRARY.backups/FILE "
                  "--no-rescan"),
        description="The current library file is kept beside it (NAME.replaced-TIME), never "
                    "deleted. Labels and examples made after the backup are not in it; "
                    "files changed since are found by the rescan. A library that passes its "
                    "check is replaced only with --force (restore names what it would "
                    "lose); a file that is not a Sampletree library is refused.")
    r.add_argument("--from", dest="source", metavar="BACKUP", type=Path, default=None,
                   help="this backup file instead of the newest good one")
    r.add_argument("--force", action="store_true",
                   help="replace the library even though it passes its check (examples and "
                        "tree edits made since the backup are lost)")
    r.add_argument("--no-rescan", action="store_true",
                   help="do not rescan the library's folders afterwards")
    r.set_defaults(func=cmd_restore)


def _path(args: argparse.Namespace) -> Path:
    return Path(args.library or default_library_path())


def cmd_check(args: argparse.Namespace) -> int:
    from core.backup import check

    path = _path(args)
    started = time.perf_counter()
    problems = check(path)
    took = time.perf_counter() - started
    if args.json:
        print(json.dumps({"library": str(path), "ok": not problems, "problems": problems,
                          "seconds": round(took, 3)}, indent=1))
    elif problems:
        print(f"{shown(str(path))}: DAMAGED ({plural(len(problems), 'problem')} "
              "found):")
        for p in problems[:10]:
            print(f"  ! {p}")
        print("Nothing will write to it. `sampletree restore` puts back the last good backup "
              "(`sampletree backups` lists them).")
    else:
        print(f"{shown(str(path))}: ok (full check, {took:.1f} s)")
    return EXIT_ERROR if problems else EXIT_OK


def cmd_backups(args: argparse.Namespace) -> int:
    from core.backup import backup_dir, list_backups

    path = _path(args)
    kept = list_backups(path)
    if args.json:
        print(json.dumps([b.as_dict() for b in kept], indent=1))
        return EXIT_OK
    if not kept:
        print(f"No backups of {shown(str(path))} yet (they are made in "
              f"{shown(str(backup_dir(path)))} before each scan, relabel and undo).")
        return EXIT_OK
    for b in kept:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.made_at))
        print(f"{when}  before {b.reason:<9} {b.path.stat().st_size / 1e6:7.1f} MB  "
              f"check {b.check}  {shown(str(b.path))}"
              + ("  (kept apart)" if b.kept_apart else ""))
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from core.backup import restore

    path = _path(args)
    done = restore(path, args.source, force=args.force)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(done["backup_made_at"]))
    print(f"Restored {shown(str(path))} from the backup of {when} "
          f"({shown(done['restored_from'])}).")
    for aside in done["kept_aside"]:
        print(f"  the replaced file is kept as {shown(aside)}")
    carried = done.get("relabels") or {}
    if carried.get("batches"):
        print(f"  relabel {'batch' if len(carried['batches']) == 1 else 'batches'} since the "
              f"backup kept: {', '.join(map(str, carried['batches']))} "
              f"({plural(carried['followed'], 'moved file')} followed to where "
              f"{'it is' if carried['followed'] == 1 else 'they are'} now)")
    if carried.get("note"):
        print(f"sampletree: note: {carried['note']}", file=sys.stderr)
    if args.no_rescan:
        return EXIT_OK
    from app.cli import cmd_scan
    from core.library import Library

    with Library(path, create=False) as lib:
        roots = [r for r in lib.roots() if Path(r).is_dir()]
        gone = [r for r in lib.roots() if not Path(r).is_dir()]
    for r in gone:
        print(f"  not rescanned (folder not found): {shown(r)}")
    if not roots:
        return EXIT_OK
    print("Rescanning the library's folders for what changed since the backup…")
    scan_args = argparse.Namespace(**{**vars(args), "dirs": roots, "device": "auto",
                                      "jobs": None, "hop": 0.5, "json": False,
                                      "quiet": False,
                                      "model": os.environ.get("SAMPLETREE_MODEL")})
    code = cmd_scan(scan_args)
    if code != EXIT_OK:
        raise SampletreeError("the backup is back in place but the rescan did not finish; "
                              "run `sampletree scan` on your folders")
    return EXIT_OK
