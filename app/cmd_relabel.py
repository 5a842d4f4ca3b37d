"""Batch relabeling of folders: relabel (plan → preview → apply), undo, batches."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from app.common import (
    EXIT_CANCELLED,
    EXIT_OK,
    JSON_HELP,
    command,
    fraction,
    open_library,
    positive_int,
    printable,
    shown,
)
from core.errors import LibraryFull, SampletreeError
from core.relabel.layout import DEFAULT_LAYOUT, FIELDS
from core.words import plural

MODES = ["move", "copy", "hardlink", "symlink", "rename", "sidecar"]


def register(sub: argparse._SubParsersAction) -> None:
    r = command(
        sub, "relabel", "sort files into a folder per label (or rename, or a sidecar); "
                        "prints the batch id for undo",
        description="Sort the files of the library by their label in a tree. The plan is "
                    "made and stored first (--dry-run shows it and stops); nothing is ever "
                    "overwritten, every step is journaled, and `sampletree undo BATCH` puts "
                    "every file back. Files whose label is unknown, uncertain or unlabeled "
                    "are left alone.",
        examples=("sampletree relabel mine --mode copy --dest ~/Sorted --dry-run",
                  "sampletree relabel mine --mode move --dest ~/Sorted --min-confidence 0.8",
                  "sampletree relabel mine --mode copy --dest ~/Sorted --layout '{label}/{name}'",
                  "sampletree relabel mine --mode rename --node Drums",
                  "sampletree relabel --resume 3"))
    r.add_argument("tree", metavar="NAME", nargs="?",
                   help="the tree whose labels to use (not with --resume)")
    r.add_argument("--mode", choices=MODES,
                   help="required, except with --resume. move: each file into "
                        "DEST/<label path>/; copy: a copy there, the file stays; hardlink, "
                        "symlink: a link there, the file stays; rename: in place, its label "
                        "put before its name ('Kick - a.wav'); sidecar: DEST/labels.csv and "
                        "DEST/labels.json list every file's label, no file is touched")
    r.add_argument("--dest", metavar="DIR",
                   help="where files, links or the sidecar go (not for --mode rename)")
    r.add_argument("--layout", metavar="TEMPLATE",
                   help=f"where each file goes under DEST (move, copy, hardlink, symlink; "
                        f"default {DEFAULT_LAYOUT}: its label, then the folder it had inside "
                        f"its scanned folder, so same-named files of a sample pack stay "
                        f"apart). Fields: {', '.join('{' + f + '}' for f in FIELDS)}. "
                        "{name} has no extension: the file's own is always kept, {ext} is it "
                        "without the dot. {label} and {relfolder} make folders. rename and "
                        "sidecar take none")
    r.add_argument("--min-confidence", type=fraction, default=0.0, metavar="X",
                   help="only files labeled at least this confidently, 0 to 1 (0)")
    r.add_argument("--node", action="append", dest="nodes", metavar="NODE/PATH",
                   help="only files labeled with this node or below (repeatable)")
    r.add_argument("--folder", action="append", dest="folders", metavar="DIR",
                   help="only files under this folder (repeatable)")
    r.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    r.add_argument("--resume", type=positive_int, metavar="BATCH",
                   help="finish a batch that stopped part-way (interrupted, cancelled, disk "
                        "full): its remaining files, as planned")
    r.add_argument("--json", action="store_true",
                   help=JSON_HELP + "; its \"skipped\" counts the files left alone by "
                                    "reason: low_confidence, unlabeled, other_nodes, …")
    r.set_defaults(func=cmd_relabel, parser=r)

    u = command(sub, "undo", "undo a relabel batch",
                description="Undo a relabel batch: every file back where it was, "
                            "byte-identical; copies, links and sidecars removed. Files edited "
                            "since are restored and reported, never lost.",
                examples=("sampletree undo 3", "sampletree batches   (to find BATCH)"))
    u.add_argument("batch", type=positive_int, metavar="BATCH",
                   help="the batch id that relabel printed (`sampletree batches` lists them)")
    u.add_argument("--json", action="store_true", help=JSON_HELP)
    u.set_defaults(func=cmd_undo)

    b = command(sub, "batches", "relabel batches, newest first",
                description="Relabel batches, newest first: id, state, mode, tree, files and "
                            "destination.",
                examples=("sampletree batches", "sampletree batches --json"))
    b.add_argument("--json", action="store_true", help=JSON_HELP)
    b.set_defaults(func=cmd_batches)


def cmd_relabel(args: argparse.Namespace) -> int:
    from core.joblock import JobBusy
    from core.jobs import CancelToken
    from core.relabel import (
        SKIP_REASONS,
        apply_batch,
        discard_batch,
        plan_relabel,
        preview,
        unfinished_batches,
    )

    if args.resume is not None:
        given = [flag for flag, value in (("NAME", args.tree), ("--mode", args.mode),
                                          ("--dest", args.dest), ("--node", args.nodes),
                                          ("--layout", args.layout),
                                          ("--folder", args.folders),
                                          ("--dry-run", args.dry_run or None))
                 if value is not None]
        if given:
            args.parser.error(f"--resume finishes a batch as it was planned; it takes no "
                              f"{', '.join(given)}")
        return _resume(args)
    if args.tree is None or args.mode is None:
        args.parser.error("give the tree NAME and --mode (or --resume BATCH)")
    with open_library(args, create=False) as lib:
        for b in unfinished_batches(lib):
            print(f"sampletree: note: batch {b['id']} stopped with "
                  f"{plural(b['left'], 'file')} left; "
                  f"finish it with `sampletree relabel --resume {b['id']}` or undo it with "
                  f"`sampletree undo {b['id']}`", file=sys.stderr)
        plan = plan_relabel(lib, args.tree, args.mode, args.dest,
                            min_confidence=args.min_confidence, nodes=args.nodes,
                            folders=args.folders, layout=args.layout)
        rows = preview(lib, plan.batch_id)
        nothing = plan.files == 0  # e.g. the same relabel again: everything is in place
        if args.dry_run or nothing:
            discard_batch(lib, plan.batch_id)  # a dry run (or an empty batch) stores nothing
        try:
            report = None if args.dry_run or nothing else apply_batch(
                lib, plan.batch_id, cancel=CancelToken())
        except JobBusy:
            discard_batch(lib, plan.batch_id)  # refused before any step: nothing stored
            raise
        except LibraryFull:
            # a full library drive before the first step: the plan goes too, if it can
            # (a batch that started is left for the next command to settle)
            with contextlib.suppress(SampletreeError):
                discard_batch(lib, plan.batch_id)
            raise
    skipped = {k: n for k, n in plan.skipped.items() if n}  # stable keys, as `batches` has
    if args.json:
        out: dict[str, Any] = {
            "batch": None if args.dry_run or nothing else plan.batch_id,
            "dry_run": args.dry_run,
            "layout": plan.layout, "files": plan.files,
            "skipped": skipped,
            "operations": [{k: printable(v) if k in {"src", "dst"} else v
                            for k, v in row.items()} for row in rows]}
        if report is not None:
            out["report"] = report.as_dict()
        print(json.dumps(out, indent=1, default=printable))
    else:
        for row in rows:
            print(f"{row.get('label') or '':<24} {shown(row['src'])}\n"
                  f"{'':<24} → {shown(row['dst'])}")
        if skipped:
            print("left alone: " + ", ".join(f"{n} {SKIP_REASONS.get(k, k)}"
                                             for k, n in skipped.items()))
        if plan.layout is not None:
            print(f"layout: {plan.layout} (under {shown(plan.dest)})")
        if args.dry_run:
            print(f"dry run: {plural(plan.files, 'file')} planned; nothing changed, nothing stored")
        elif nothing:
            print("nothing to do: no file to relabel (no batch stored)")
        else:
            # what the apply did, not what was planned: a batch a full disk stopped
            # says how far it got
            done = report.message if report is not None and report.message else (
                f"{plural(plan.files, 'file')} applied")
            print(f"batch {plan.batch_id}: {done}; undo with `sampletree undo {plan.batch_id}`")
        if report is not None:
            _print_report(report)
    if report is None:
        return EXIT_OK
    return _outcome(report)


def _resume(args: argparse.Namespace) -> int:
    from core.jobs import CancelToken
    from core.relabel import apply_batch

    with open_library(args, create=False) as lib:
        report = apply_batch(lib, args.resume, cancel=CancelToken())
    if args.json:
        print(json.dumps({"batch": args.resume, "report": report.as_dict()}, indent=1,
                         default=printable))
    else:
        print(f"batch {args.resume}: {report.message}; undo with "
              f"`sampletree undo {args.resume}`")
        _print_report(report)
    return _outcome(report)


def _print_report(report: Any) -> None:
    earlier = getattr(report, "earlier", 0)
    done = (f"{report.done} done now, {earlier + report.done} of {report.total} in all"
            if earlier else f"{report.done} of {report.total} done")
    print(f"  {done}, {len(report.skipped)} skipped, {len(report.failed)} failed")
    _print_pairs("skipped", report.skipped)
    _print_pairs("failed", report.failed)
    _print_pairs("renamed (name taken since the plan)", report.renamed)


def _outcome(report: Any) -> int:
    if report.cancelled:
        return EXIT_CANCELLED
    if report.state == "failed":
        # (the journal's message says how far it got and names resume and undo)
        raise SampletreeError(f"relabel batch {report.batch_id}: {report.message}")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    from core.jobs import CancelToken
    from core.relabel import undo_batch

    with open_library(args, create=False) as lib:
        report = undo_batch(lib, args.batch, cancel=CancelToken())
    if args.json:
        print(json.dumps(report.as_dict(), indent=1, default=printable))
    else:
        removed = plural(report.removed, "copy, link or sidecar", "copies, links or sidecars")
        print(f"batch {args.batch}: {report.state}; {plural(report.restored, 'file')} "
              f"restored, {removed} removed")
        _print_pairs("changed since the batch (restored anyway)",
                     [(p, "") for p in report.modified])
        _print_pairs("kept", report.kept)
        _print_pairs("missing (now marked missing in the library)", report.missing)
        _print_pairs("restored under another name (original path taken)", report.restored_as)
        _print_pairs("failed", report.failed)
    if report.cancelled:
        return EXIT_CANCELLED
    if report.state == "failed":
        # (the journal's message says what to do: "...; fix this and run undo again")
        why = report.message.removeprefix("undo stopped: ")
        raise SampletreeError(f"undo of batch {args.batch} stopped: {why}")
    return EXIT_OK


def cmd_batches(args: argparse.Namespace) -> int:
    from core.relabel import list_batches

    with open_library(args, create=False) as lib:
        batches = list(reversed(list_batches(lib)))
    if args.json:
        print(json.dumps(batches, indent=1, default=printable))
        return EXIT_OK
    for b in batches:
        print(f"{b['id']:>5}  {b['state']:<11} {b['mode']:<8} {b.get('tree') or '':<16} "
              f"{plural(b['files'], 'file') if 'files' in b else ''}  "
              f"{shown(b.get('dest')) or ''}")
    return EXIT_OK


def _print_pairs(title: str, pairs: list[tuple[str, str]]) -> None:
    if not pairs:
        return
    print(f"  {title}:")
    for path, why in pairs[:50]:
        print(f"    {shown(path)}" + (f": {shown(why)}" if why else ""))
    if len(pairs) > 50:
        print(f"    … and {len(pairs) - 50} more")
