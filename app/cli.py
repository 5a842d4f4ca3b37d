"""The ``sampletree`` command line.

Contract (scripts rely on it): ``sampletree [--library PATH] COMMAND``; every failure
prints one line ``sampletree: error: …`` and exits non-zero (tracebacks only with
``--debug``). Heavy modules (torch) are imported inside the commands that need them,
so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.cmd_selftest import SelfTestAction
from app.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK
from app.common import open_library as _open_library
from app.common import printable as _printable
from app.paths import default_library_path
from core.errors import SampletreeError
from core.paths import one_line

#: What ``ls --problems`` lists: every file a scan reports a problem with.
PROBLEM_STATUSES = ("error", "missing", "pending")


def _shown(path: Any) -> str:
    """A path or reason for human output: one line, whatever bytes the name holds."""
    return one_line(_printable(path))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sampletree",
        description="Organize music sample libraries with a few-shot hierarchical network.",
    )
    p.add_argument("--library", type=Path, default=None,
                   help=f"library file (default: {default_library_path()})")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--self-test", action=SelfTestAction,
                   help="scan and label the bundled demo library in a temporary library, "
                        "print each file's label, exit 0 if they come out right")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=False)

    sub.add_parser("gui", help="open the desktop app (also what `sampletree` alone does "
                               "when a display is present)")

    s = sub.add_parser("scan", help="scan sample folders into the library")
    s.add_argument("dirs", nargs="+", metavar="DIR")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the network runs (default: CUDA when present)")
    s.add_argument("--jobs", type=int, default=None,
                   help="decoder processes (default: CPU count; 0 = decode in-process)")
    s.add_argument("--model", type=Path, default=os.environ.get("SAMPLETREE_MODEL"),
                   help="weights file to embed with (default: the bundled model)")
    s.add_argument("--hop", type=float, default=0.5, help="seconds between windows (0.5)")
    s.add_argument("--json", action="store_true", help="print the scan report as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    st = sub.add_parser("status", help="summary of the library")
    st.add_argument("--json", action="store_true")

    ls = sub.add_parser("ls", help="list the files in the library")
    ls.add_argument("--json", action="store_true", help="a JSON array, one record per file")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--status", choices=["ok", "error", "missing", "pending"],
                       help="only files with this status")
    which.add_argument("--problems", action="store_true",
                       help="only the files a scan reported a problem with (status "
                            + ", ".join(PROBLEM_STATUSES) + ")")
    ls.add_argument("--tree", metavar="NAME",
                    help="labels from this tree (default: the only tree, if there is one)")
    for module in _command_modules():
        module.register(sub)
    return p


def _command_modules() -> list:
    """Command modules beyond scan/status/ls; each has ``register(subparsers)``."""
    from app import cmd_labels, cmd_library, cmd_model, cmd_relabel, cmd_trees

    return [cmd_trees, cmd_labels, cmd_relabel, cmd_model, cmd_library]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sampletree")
    except Exception:
        return "unknown"


# -- commands -------------------------------------------------------------------------

def cmd_scan(args: argparse.Namespace) -> int:
    from core.audio import WindowParams
    from core.jobs import CancelToken
    from core.scanner import ScanOptions, scan
    from models import ModelError, load_model

    for d in args.dirs:
        if not os.path.isdir(d):
            raise SampletreeError(f"{d} is not a folder")
    if args.jobs is not None and args.jobs < 0:
        raise SampletreeError("--jobs must be 0 or more")
    if args.hop <= 0:
        raise SampletreeError("--hop must be positive")
    model = None
    try:
        model = load_model(args.model, device=args.device)
    except ModelError as exc:
        if args.model is not None:
            raise SampletreeError(str(exc)) from None
        # No bundled weights: index and decode anyway, and say loudly that nothing is
        # embedded. There is no silent fallback to an untrained network.
        print(f"sampletree: warning: {exc}.\n"
              "  Files are indexed and decoded but not embedded; the next scan with a "
              "trained model embeds them.", file=sys.stderr)
    if model is not None and not model.info.trained:
        print(f"sampletree: warning: {args.model} holds UNTRAINED weights "
              "(for testing only); labels made from them mean nothing", file=sys.stderr)
    window = WindowParams(sample_rate=model.info.features.sample_rate if model else 16_000,
                          window_s=model.info.features.window_s if model else 1.0,
                          hop_s=args.hop)
    # Small batches on CPU: the same speed at 32, 64 and 256 windows, but peak memory of
    # 1.35, 2.0 and ~4.5 GB (150-file scan, paper's net, 2 cores); a GPU wants large ones.
    batch = 1024 if model is not None and model.device.type == "cuda" else 32
    options = ScanOptions(window=window, batch_windows=batch)
    if args.jobs is not None:
        options = ScanOptions(jobs=args.jobs, window=window, batch_windows=batch)

    library = _open_library(args, create=True)
    cancel = CancelToken()

    def on_sigint(_sig: int, _frame: object) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        print("\nsampletree: stopping after the current batch (Ctrl-C again to abort)…",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with library, _progress_bar(args.quiet or args.json) as progress:
            report = scan(library, args.dirs, model, options=options, progress=progress,
                          cancel=cancel)
        if model is not None and not report.cancelled:
            refreshed = _refresh_labels(library)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
        if model is not None and not report.cancelled and refreshed:
            print(f"  labels refreshed for {', '.join(refreshed)}")
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _refresh_labels(library: Any) -> list[str]:
    """New and changed files get labels at once from every tree that has examples."""
    from core.classify import Classifier

    return [r.tree for r in Classifier(library).refresh_all()]


def _progress_bar(disabled: bool):  # -> context manager yielding a ProgressCallback
    from contextlib import contextmanager

    from core.jobs import Progress

    @contextmanager
    def quiet():
        yield lambda _p: None

    if disabled or (not sys.stderr.isatty() and not os.environ.get("SAMPLETREE_PROGRESS")):
        return _plain_progress() if not disabled else quiet()

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    @contextmanager
    def bar():
        with RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f} files/s"), TimeRemainingColumn(),
            transient=False,
        ) as rp:
            task = rp.add_task("scan", total=None, rate=0.0)

            def update(p: Progress) -> None:
                rp.update(task, description=p.stage, completed=p.done,
                          total=p.total or None, rate=p.rate)

            yield update

    return bar()


def _plain_progress():
    """No terminal: one line every few seconds on stderr, good for logs and CI."""
    import time
    from contextlib import contextmanager

    from core.jobs import Progress

    @contextmanager
    def plain():
        last = [0.0]

        def update(p: Progress) -> None:
            now = time.monotonic()
            if p.stage != "decode" or (now - last[0] < 5 and p.done != p.total):
                return  # walk and diff take well under a second per 10k files
            last[0] = now
            eta = f", ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
            print(f"{p.stage}: {p.done}/{p.total} files, {p.rate:.1f} files/s{eta}",
                  file=sys.stderr)

        yield update

    return plain()


def _print_report(report: Any) -> None:
    r = report
    roots = ", ".join(_shown(p) for p in r.roots)
    print(f"Scanned {roots} in {r.seconds:.1f} s: {r.found} audio files "
          f"({r.new} new, {r.changed} changed, {r.unchanged} unchanged, {r.moved} moved, "
          f"{r.missing} missing)")
    from core.walk import skipped_summary

    unreadable = f"; {r.failed} unreadable"
    if r.errors_in_library != r.failed:
        unreadable += f" now, {r.errors_in_library} in the library"
    print(f"  decoded {r.decoded} files into {r.windows} windows; "
          f"{r.embedded_windows} embedded" + (f" with {r.model_id}" if r.model_id else "")
          + unreadable)
    if line := skipped_summary(r.skipped):
        print(f"  {line}")
    # Problems the library keeps no record of (unreadable folders, loops, files that
    # vanished) are all printed; the files on record are listed by `ls --problems`.
    unlisted = list(getattr(r, "unlisted", []))
    kept = set(unlisted)
    listed = [p for p in r.problems if p not in kept]
    for path, why in unlisted[:100] + listed[:20]:
        print(f"  ! {_shown(path)}: {_shown(why)}")
    if len(unlisted) > 100:
        print(f"  … and {len(unlisted) - 100} more folders or vanished files "
              "(`sampletree scan --json` lists them all)")
    if len(listed) > 20:
        print(f"  … and {len(listed) - 20} more files with a problem "
              "(`sampletree ls --problems` lists them all)")
    if r.cancelled:
        print("Scan cancelled: finished files are saved; run the same scan to resume.")


def cmd_status(args: argparse.Namespace) -> int:
    with _open_library(args, create=False) as library:
        stats = library.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return EXIT_OK
    by = stats["by_status"]
    print(f"Library: {_shown(stats['library'])} (schema {stats['schema_version']}, "
          f"{stats['bytes'] / 1e6:.1f} MB)")
    print(f"Folders: {', '.join(_shown(r) for r in stats['roots']) or '(none)'}")
    print(f"Files: {stats['files']} — " + ", ".join(f"{n} {s}" for s, n in sorted(by.items())))
    print(f"Audio: {stats['audio_hours']:.2f} h in {stats['windows']} windows"
          + (f" ({stats['bytes_per_window']:.0f} bytes/window)" if stats["windows"] else ""))
    emb = stats["embedded_windows"]
    print("Embedded: " + (", ".join(f"{n} windows by {m}" for m, n in emb.items()) or "none"))
    last = stats["last_scan"]
    if last:
        work = (f"{last['files_done']}/{last['files_total']} files read" if last["files_total"]
                else "nothing had changed")
        print(f"Last scan: {last['state']}, {work}")
    return EXIT_OK


def _labels_for_ls(library: Any, tree: str | None) -> dict[str, dict[str, Any]]:
    from core.classify import file_labels
    from core.schema import trees

    if tree is None:
        with library.reading() as conn:
            names = [r[0] for r in conn.execute(trees.select().with_only_columns(trees.c.name))]
        if len(names) != 1:
            return {}
        tree = names[0]
    return {r["path"]: r for r in file_labels(library, tree)}


def cmd_ls(args: argparse.Namespace) -> int:
    with _open_library(args, create=False) as library:
        rows = list(library.list_samples(
            status=PROBLEM_STATUSES if args.problems else args.status))
        labels = _labels_for_ls(library, args.tree)
    for row in rows:
        lab = labels.get(row["path"])
        row["label"] = None if lab is None else ("unknown" if lab["unknown"] else lab["node"])
        row["confidence"] = None if lab is None else lab["confidence"]
        row["path"] = _printable(row["path"])
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    for row in rows:
        dur = f"{row['duration_s']:7.2f}s" if row["duration_s"] is not None else "      -"
        extra = f"  {one_line(row['error'])}" if row["error"] else ""
        row["path"] = one_line(row["path"])  # a newline in a name must not split the record
        label = f"  [{row['label'] or '?'} {row['confidence']:.2f}]" if row["label"] is not None \
            else ""
        print(f"{row['status']:<8}{dur} {row['windows']:>5}w  {row['path']}{label}{extra}")
    print(f"{len(rows)} files", file=sys.stderr)
    return EXIT_OK


#: Commands the desktop build leaves out (with scikit-learn and matplotlib): making the
#: network is a developer's job (build_spec/sampletree.spec).
SOURCE_ONLY = ("corpus", "train", "evaluate")


def cmd_gui(args: argparse.Namespace) -> int:
    from app.gui import has_display

    if not has_display():
        raise SampletreeError("no display to open the app on (set DISPLAY, or use a command: "
                              "sampletree --help)")
    try:
        from app.gui import run
    except ImportError as exc:
        raise SampletreeError(f"the desktop app is not installed ({exc}); install the 'gui' "
                              "extra: pip install 'sampletree[gui]'") from None
    return run(args.library)


COMMANDS = {"scan": cmd_scan, "status": cmd_status, "ls": cmd_ls, "gui": cmd_gui}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from app.gui import has_display

        if not has_display():
            parser.print_usage(sys.stderr)
            print("sampletree: no display to open the app on; choose a COMMAND "
                  "(sampletree --help lists them)", file=sys.stderr)
            return 2
        args.command = "gui"
    from core.allocator import tune_allocator

    tune_allocator()
    try:
        if args.command in SOURCE_ONLY and getattr(sys, "frozen", False):
            raise SampletreeError(f"'{args.command}' is not part of the desktop build (it needs "
                                  "the development install: README, 'The network')")
        func = COMMANDS.get(args.command) or args.func
        return int(func(args))
    except SampletreeError as exc:
        if args.debug:
            raise
        print(f"sampletree: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sampletree: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_OK  # `sampletree ls | head`
    except OSError as exc:
        if args.debug:
            raise
        print(f"sampletree: error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
