"""The ``sampletree`` command line.

Contract (scripts rely on it): ``sampletree [--library PATH] COMMAND``; every failure
prints one line ``sampletree: error: …`` and exits non-zero (tracebacks only with
``--debug``). Heavy modules (torch) are imported inside the commands that need them,
so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.cmd_selftest import SelfTestAction
from app.common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    JSON_HELP,
    HelpFormatter,
    Parser,
    command,
    count_int,
    positive_float,
)
from app.common import open_library as _open_library
from app.common import printable as _printable
from app.common import shown as _shown
from app.paths import default_library_path
from core.errors import SampletreeError
from core.paths import one_line
from core.words import plural

#: What ``ls --problems`` lists: every file a scan reports a problem with.
PROBLEM_STATUSES = ("error", "missing", "pending")


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="sampletree",
        description="Organize music sample libraries with a few-shot hierarchical network: "
                    "scan your folders, give a few examples per class of a tree, and every "
                    "file is labeled. `sampletree COMMAND --help` explains each command.",
        epilog="Labels: Drums/Kick (a class), ~ Drums (the class was uncertain: the deepest "
               "certain group), uncertain (not even a top-level group), unknown (far from "
               "every class), unlabeled (no prediction: not embedded, or no examples yet).\n\n"
               "Exit status: 0 done, 1 failed (one `sampletree: error:` line), 2 a wrong "
               "command line (or no display for the app), 130 cancelled.\n\n"
               "examples:\n"
               "  sampletree scan ~/Samples\n"
               "  sampletree tree create mine --from producer\n"
               "  sampletree label mine Drums/Kick ~/Samples/kicks/k1.wav\n"
               "  sampletree classify mine",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--library", type=Path, default=None,
                   help=f"library file (default: {default_library_path()})")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--self-test", action=SelfTestAction,
                   help="scan and label the bundled demo library in a temporary library, "
                        "print each file's label, exit 0 if they come out right")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=False)

    command(sub, "gui", "open the desktop app (also what `sampletree` alone does when a "
                        "display is present)", examples=("sampletree gui",
                                                         "sampletree --library x.sqlite gui"))

    s = command(sub, "scan", "scan sample folders into the library",
                description="Scan sample folders into the library: every audio file is "
                            "decoded, cut into 1 s windows and embedded by the network; "
                            "labels of every tree follow. Rescans read only what changed; "
                            "Ctrl-C stops after the current batch and the same scan resumes. "
                            "Each folder is one source, by its real path: a link to a source "
                            "or a folder inside one rescans it; a parent of sources takes "
                            "them in.",
                examples=("sampletree scan ~/Samples", "sampletree scan ~/Samples ~/Loops "
                          "--device cpu --jobs 2", "sampletree scan ~/Samples --json"))
    s.add_argument("dirs", nargs="*", metavar="DIR", help="folders to scan (and keep watching "
                                                          "for the next scan)")
    s.add_argument("--demo", action="store_true",
                   help="also scan the bundled demo library, as a copy in the user data "
                        "folder (made once; relabeling it never touches Sampletree's files)")
    s.set_defaults(parser=s)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the network runs: auto (a CUDA GPU when present, else the "
                        "CPU), cpu, or cuda (an error without a CUDA GPU)")
    s.add_argument("--jobs", type=count_int, default=None, metavar="N",
                   help="decoder processes (default: CPU count; 0 = decode in-process)")
    s.add_argument("--model", type=Path, default=os.environ.get("SAMPLETREE_MODEL"),
                   metavar="WEIGHTS",
                   help="weights file to embed with (default: $SAMPLETREE_MODEL, else the "
                        "bundled model)")
    s.add_argument("--hop", type=positive_float, default=0.5, metavar="S",
                   help="seconds between windows, above 0 (0.5)")
    s.add_argument("--json", action="store_true", help="print the scan report as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress display")

    st = command(sub, "status", "summary of the library",
                 description="Summary of the library: its folders, files by status, audio "
                             "hours, windows, embeddings and the last scan.",
                 examples=("sampletree status", "sampletree --library x.sqlite status --json"))
    st.add_argument("--json", action="store_true", help=JSON_HELP)

    ls = command(sub, "ls", "list the files in the library",
                 description="List the files in the library: status, duration, windows, path "
                             "and, when the library has one tree (or --tree), each file's "
                             "label and confidence. The counts go to stderr.",
                 examples=("sampletree ls", "sampletree ls --status error",
                           "sampletree ls --tree mine --json"))
    ls.add_argument("--json", action="store_true", help="a JSON array, one record per file")
    which = ls.add_mutually_exclusive_group()
    which.add_argument("--status", choices=["ok", "error", "missing", "pending"],
                       help="only files with this status: ok, error (unreadable), missing "
                            "(gone from disk) or pending (not decoded yet)")
    which.add_argument("--problems", action="store_true",
                       help="only the files a scan reported a problem with (status "
                            + ", ".join(PROBLEM_STATUSES) + ")")
    ls.add_argument("--tree", metavar="NAME",
                    help="labels from this tree (default: the only tree, or the one labeled "
                         "last by classify, label, a tree edit or the app)")
    _add_analysis_args(ls)
    ls.add_argument("--peaks", action="store_true",
                    help="each file's waveform thumbnail: a sparkline, or with --json a "
                         "'peaks' field of 256 hex digits (64 column peaks, then 64 RMS "
                         "levels; 00 = -60 dBFS or less, ff = 0 dBFS)")
    for module in _command_modules():
        module.register(sub)
    return p


def _checked(parser: str, keep_text: bool = False) -> Callable[[str], Any]:
    """An argparse type from a core.analysis.query parser (imported when a value comes:
    building the command line stays light): a wrong value is a usage error (the usage line
    and exit 2, as for every other option), its message the parser's."""
    def check(text: str) -> Any:
        from core.analysis import query

        try:
            value = getattr(query, parser)(text)
        except SampletreeError as exc:
            msg = str(exc)  # "--bpm 'abc' is not…": argparse names the option itself
            raise argparse.ArgumentTypeError(msg.split(" ", 1)[-1] if msg.startswith("--")
                                             else msg) from None
        return text if keep_text else value
    return check


def _add_analysis_args(ls: argparse.ArgumentParser) -> None:
    """``ls`` filters and columns from core/analysis (tempo, key, loop/one-shot, loudness)."""
    g = ls.add_argument_group("tempo, key, type and loudness (filled by scans)")
    g.add_argument("--bpm", metavar="RANGE", type=_checked("parse_bpm"),
                   help="tempo range, e.g. 120-128, or one tempo ±2%% (124); a loop whose "
                        "half/double-time reading is in range matches too")
    g.add_argument("--key", metavar="KEY", type=_checked("parse_keys", keep_text=True),
                   help="key(s), e.g. Am, F#m, C, 'Bb minor', 8A (Camelot), several with "
                        "commas; a tonal one-shot matches by its root note")
    g.add_argument("--compatible", action="store_true",
                   help="with --key: also the compatible keys (relative key and a fifth "
                        "either way on the Camelot wheel)")
    g.add_argument("--type", dest="kind", metavar="TYPE", type=_checked("parse_kind"),
                   help="loop or oneshot")
    g.add_argument("--lufs", metavar="RANGE", type=_checked("parse_db_range"),
                   help="integrated loudness: --lufs=-20:-10 (or '-20 to -10'), -20: "
                        "(louder than -20), :-10 (quieter than -10), -14 (within 1 LU)")
    g.add_argument("--sort", choices=["path", "bpm", "key", "duration", "lufs", "peak"],
                   default="path",
                   help="order of the list: path (the default), bpm, key (Camelot order), "
                        "duration, lufs or peak")
    g.add_argument("-l", "--long", action="store_true",
                   help="show type, tempo, key or root note and loudness on each line")


def _analysis_filter(args: argparse.Namespace) -> Any:
    from core.analysis.query import AnalysisFilter, parse_keys

    if args.compatible and not args.key:
        raise SampletreeError("--compatible goes with --key (e.g. --key Am --compatible)")
    return AnalysisFilter(  # --bpm, --type and --lufs come parsed (checked by argparse)
        bpm=args.bpm or None,
        keys=parse_keys(args.key, args.compatible) if args.key else (),
        kind=args.kind or None,
        lufs=args.lufs or None)


def _analysis_text(row: dict[str, Any]) -> str:
    """``loop  124 BPM (4 bars)  Am  -14.2 LUFS`` for ``ls -l``; "—" where nothing is known."""
    kind = {"loop": "loop", "oneshot": "one-shot"}.get(row["type"] or "", "—")
    bpm = "—" if row["bpm"] is None else f"{row['bpm']:g} BPM"
    if row["bars"]:
        bpm += f" ({row['bars']:g} bar{'s' if row['bars'] != 1 else ''})"
    tone = row["key"] or row["root_note"] or "—"
    loud = "—" if row["lufs"] is None else f"{row['lufs']:.1f} LUFS"
    return f"  {kind:<8} {bpm:<20} {tone:<4} {loud}"


def _sort_rows(rows: list[dict[str, Any]], how: str) -> list[dict[str, Any]]:
    if how == "path":
        return rows
    from core.analysis.query import camelot_rank

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        if how == "key":
            return (camelot_rank(r["key"]), r["path"])
        field = {"duration": "duration_s", "peak": "peak_dbfs"}.get(how, how)
        v = r[field]
        return (v is None, 0.0 if v is None else v, r["path"])

    return sorted(rows, key=key)


def _command_modules() -> list:
    """Command modules beyond scan/status/ls; each has ``register(subparsers)``."""
    from app import cmd_duplicates, cmd_labels, cmd_library, cmd_model, cmd_relabel, cmd_trees

    return [cmd_trees, cmd_labels, cmd_relabel, cmd_duplicates, cmd_model, cmd_library]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("sampletree")
    except Exception:
        return "unknown"


# -- commands -------------------------------------------------------------------------

def cmd_scan(args: argparse.Namespace) -> int:
    if getattr(args, "demo", False):  # a copy: a relabel must not move the app's own files
        from app.paths import demo_copy_parent
        from core.demo import copy_demo

        copy = str(copy_demo(demo_copy_parent()))
        print(f"the demo library is scanned as a copy: {_shown(copy)}", file=sys.stderr)
        args.dirs = [*args.dirs, copy]
    elif not args.dirs:
        args.parser.error("give the folders to scan (or --demo)")
    # Everything that needs no network is checked before torch is imported (~1-2 s).
    for d in args.dirs:
        if not os.path.isdir(d):
            raise SampletreeError(f"{d} is not a folder")
        try:  # a folder named on the command line that cannot be listed is an error
            with os.scandir(d):  # (its subfolders that cannot be read stay warnings)
                pass
        except OSError as exc:
            raise SampletreeError(f"{d} cannot be read: {exc.strerror or exc}") from None
    if args.jobs is not None and args.jobs < 0:
        raise SampletreeError("--jobs must be 0 or more")
    if args.hop <= 0:
        raise SampletreeError("--hop must be positive")

    if args.device != "cuda":
        done = _rescan_with_nothing_to_embed(args)
        if done is not None:
            return done

    from core.audio import WindowParams
    from core.jobs import CancelToken
    from core.scanner import ScanOptions, scan
    from models import ModelError, load_model, resolve_device

    try:  # --device cuda without a GPU is the user's mistake, not missing weights
        device = resolve_device(args.device)
    except ModelError as exc:
        raise SampletreeError(str(exc)) from None
    model = None
    try:
        model = load_model(args.model, device=device)
    except ModelError as exc:
        if args.model is not None:
            raise SampletreeError(str(exc)) from None
        # No bundled weights: index and decode anyway, and say loudly that nothing is
        # embedded. There is no silent fallback to an untrained network.
        _note(f"sampletree: warning: {exc}.\n"
              "  Files are indexed and decoded but not embedded; the next scan with a "
              "trained model embeds them.")
    if model is not None and not model.info.trained:
        _note(f"sampletree: warning: {args.model} holds UNTRAINED weights "
              "(for testing only); labels made from them mean nothing")
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
        with library:
            with _progress_bar(args.quiet or args.json) as progress:
                report = scan(library, args.dirs, model, options=options, progress=progress,
                              cancel=cancel)
            # while the library is open: a rescan of a library with labels used to fail
            # here with "the library is closed"
            fresh_lines: list[str] = []
            if model is not None and not report.cancelled:
                from app.cmd_builtins import default_tree_summary, give_fresh_library_a_tree

                fresh = give_fresh_library_a_tree(library)  # a fresh library: producer tree
                refreshed = _refresh_labels(library)
                if fresh in refreshed:
                    fresh_lines = default_tree_summary(library, fresh)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
        if model is not None and not report.cancelled and refreshed:
            print(f"  labels refreshed for {', '.join(refreshed)}")
            print("\n".join(fresh_lines)) if fresh_lines else None
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _note(text: str) -> bool:
    """A line on stderr that must not stop the work when nobody reads stderr any more
    (``scan DIR 2>&1 | head -3``): False then."""
    try:
        print(text, file=sys.stderr)
        return True
    except BrokenPipeError:
        return False


def _weights_path(given: Path | None) -> Path | None:
    """The weights a scan would load, found without importing ``models`` (torch): the
    same place as :func:`models.loading.bundled_weights_path` (a test keeps them equal)."""
    if given is not None:
        return Path(given)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "models" / "weights" / "sampletree.pt"
    from importlib.util import find_spec

    spec = find_spec("models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "sampletree.pt"


def _nothing_changed(args: argparse.Namespace, roots: list[str], walked: set[str],
                     skipped: list[str], model_id: str, t0: float,
                     notes: list[str] | None = None) -> int:
    """Every file of these (known) folders is as the library has it and none is gone:
    the scan is only written in the journal, under the job lock as any scan. The
    scanner, its diff and its backup are skipped (a no-op rescan of 10,000 files took
    0.60 s with them)."""
    import time

    from core.joblock import job_lock
    from core.scanner import ScanReport

    report = ScanReport(roots=roots, found=len(walked), unchanged=len(walked),
                        skipped=skipped, model_id=model_id, notes=list(notes or []))
    library = _open_library(args, create=False)
    with library, job_lock(library.path, "scan"):
        from core.sources import record_folder_problems

        record_folder_problems(library, roots, [])  # every folder was read this time
        scan_id = library.start_scan(0)
        library.update_scan(scan_id, files_done=0, state="done", report=report.counts())
        report.errors_in_library = int(library.stats()["by_status"].get("error", 0))
    report.seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    return EXIT_OK


def _rescan_with_nothing_to_embed(args: argparse.Namespace) -> int | None:
    """A rescan where every file is as the library has it, embedded by these very weights,
    needs no network: it runs without importing torch (1-2 s of a no-op rescan's 2 s) and
    returns the exit status. None: something may need the network; scan as usual."""
    import hashlib
    import time

    t0 = time.perf_counter()

    from core.library import Library
    from core.walk import walk

    weights = _weights_path(args.model)
    lib_path = Path(args.library or default_library_path())
    if weights is None or not weights.is_file() or not lib_path.is_file():
        return None
    try:
        meta = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
        if not meta.get("trained", True):
            return None  # the untrained-weights warning belongs to the full path
        if hashlib.sha256(weights.read_bytes()).hexdigest() != meta["sha256"]:
            return None  # the full path reports damaged weights
        model_id = f"{meta['name']}-{meta['version']}-{str(meta['sha256'])[:12]}"
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with Library(lib_path, create=False, read_only=True) as lib:
            from core.schema import models

            with lib.reading() as conn:
                keys = {k for k, m in conn.execute(models.select().with_only_columns(
                    models.c.id, models.c.model_id)) if m == model_id}
            known = lib.known_samples()
            lib_roots = lib.roots()
            unanalysed = set(lib.analysis_missing().values())  # core.analysis fills them
            from core.dupstore import count_without_fingerprints

            if count_without_fingerprints(lib):  # duplicates: files to fingerprint
                return None
    except SampletreeError:
        return None
    problems: list[str] = []
    from core.sources import plan_sources  # links and folders inside sources resolved

    plan = plan_sources(args.dirs, lib_roots)
    roots = plan.walk
    walked: set[str] = set()
    skipped: list[str] = []
    for e in walk(roots, lambda path, _why: problems.append(path), skipped.append):
        k = known.get(e.path)
        if (k is None or (k.size, k.mtime_ns) != (e.size, e.mtime_ns)
                or not ((k.status == "error" and k.content_hash is not None)  # as the scanner
                        or (k.status == "ok" and k.model_id in keys))):
            return None
        if k.status == "ok" and not k.has_peaks:
            return None  # its waveform thumbnail is to be made (decoded, not embedded)
        walked.add(e.path)
    if problems or not walked.isdisjoint(unanalysed):
        return None
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in roots)
    gone = any(k.status != "missing" and p.startswith(prefixes) and p not in walked
               for p, k in known.items())
    if not gone and not plan.new and not plan.absorbed:
        return _nothing_changed(args, roots, walked, skipped, model_id, t0, plan.notes)
    # Nothing to decode or embed (files gone missing are marked by the scanner itself):
    # the scanner runs with no network; a file changed since this check is then decoded
    # but not embedded, so the scan is run once more with the network.
    from core.jobs import CancelToken
    from core.scanner import ScanOptions, scan

    library = _open_library(args, create=False)
    with library:
        report = scan(library, args.dirs, None, options=ScanOptions(jobs=0),
                      cancel=CancelToken())
    if report.decoded or report.cancelled:
        return None
    report.model_id = model_id
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    return EXIT_OK


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
            # shown once there is something to decode: a rescan with nothing to do draws
            # no "decode 0/0" bar
            task = rp.add_task("scan", total=None, rate=0.0, visible=False)

            def update(p: Progress) -> None:
                if p.stage == "decode" and not p.total:
                    return
                rp.update(task, description=p.stage, completed=p.done,
                          total=p.total or None, rate=p.rate, visible=True)

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
        printed = [(-1, -1)]  # the last (done, total) printed
        gone = [False]  # stderr's reader went away

        def update(p: Progress) -> None:
            if gone[0]:
                return
            now = time.monotonic()
            if p.stage != "decode" or not p.total or (now - last[0] < 5 and p.done != p.total):
                return  # walk and diff take well under a second per 10k files
            if printed[0] == (p.done, p.total):
                return  # the scanner reports its last step twice (progress, then "done")
            last[0] = now
            printed[0] = (p.done, p.total)
            eta = f", ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
            # `scan DIR 2>&1 | head -3`: the scan still finishes, unseen
            gone[0] = not _note(f"{p.stage}: {p.done}/{plural(p.total, 'file')}, "
                                f"{p.rate:.1f} files/s{eta}")

        yield update

    return plain()


def _print_report(report: Any) -> None:
    r = report
    roots = ", ".join(_shown(p) for p in r.roots)
    print(f"Scanned {roots} in {r.seconds:.1f} s: {plural(r.found, 'audio file')} "
          f"({r.new} new, {r.changed} changed, {r.unchanged} unchanged, {r.moved} moved, "
          f"{r.missing} missing)")
    for note in getattr(r, "notes", []):  # a link to a source, a folder inside one…
        print(f"  {_shown(note)}")
    from core.walk import skipped_summary

    unreadable = f"; {r.failed} unreadable"
    if r.errors_in_library != r.failed:
        unreadable += f" now, {r.errors_in_library} in the library"
    print(f"  decoded {plural(r.decoded, 'file')} into {plural(r.windows, 'window')}; "
          f"{r.embedded_windows} embedded" + (f" with {r.model_id}" if r.model_id else "")
          + unreadable)
    if changed := getattr(r, "examples_changed", None):
        n_ex = len(changed)
        print(f"  ! {plural(n_ex, 'example')} changed on disk since "
              "taught: the tree "
              "learns from the new audio now; check it (`sampletree explain TREE FILE`) or "
              "`sampletree unlabel TREE FILE`:")
        for ex in changed[:20]:
            print(f"    {_shown(ex['path'])}  ({ex['tree']}: {ex['node']})")
        if len(changed) > 20:
            print(f"    … and {len(changed) - 20} more (`sampletree scan --json`)")
    if n := getattr(r, "reembedded", 0):
        print(f"  the network changed (now {r.model_id}): embedded "
              f"{plural(n, 'unchanged file')} again; examples, trees and labels are kept")
    if getattr(r, "analysed", 0):  # files read before tempo/key analysis existed
        print(f"  analysed {plural(r.analysed, 'file')} already in the library (tempo, key, type, "
              "loudness); nothing re-embedded")
    if getattr(r, "fingerprinted", 0):
        print(f"  read {plural(r.fingerprinted, 'unchanged file')} again for their duplicate "
              "fingerprints (not embedded again)")
    if line := skipped_summary(r.skipped):
        print(f"  {line}")
    if n := getattr(r, "thumbnails_added", 0):
        print(f"  added waveform thumbnails to {plural(n, 'unchanged file')} "
              "(not embedded again)")
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
    from app.status import label_summaries, scan_alive, scan_text

    with _open_library(args, create=False) as library:
        stats = library.stats()
        stats["labels"] = label_summaries(library)
        from core.sources import folder_problems_now, overlapping_sources

        stats["folder_problems"] = folder_problems_now(library)
        stats["overlapping_roots"] = [{"root": a, "overlaps": b, "same_folder": same}
                                      for a, b, same in overlapping_sources(stats["roots"])]
    last = stats["last_scan"]
    if last and last["state"] == "running" and not scan_alive(stats["library"]):
        last["state"] = "interrupted"  # killed: its process is gone (the next scan resumes)
    if args.json:
        print(json.dumps(stats, indent=2))
        return EXIT_OK
    by = stats["by_status"]
    print(f"Library: {_shown(stats['library'])} (schema {stats['schema_version']}, "
          f"{stats['bytes'] / 1e6:.1f} MB)")
    print(f"Folders: {', '.join(_shown(r) for r in stats['roots']) or '(none)'}")
    for o in stats["overlapping_roots"]:  # made by an older Sampletree
        how = "the same folder as" if o["same_folder"] else "inside"
        print(f"  ! {_shown(o['root'])} is {how} {_shown(o['overlaps'])} (a library made "
              f"before sources were resolved): its files may be listed twice")
    if stats["folder_problems"]:
        print(f"Folders not read: {len(stats['folder_problems'])} "
              "(`sampletree ls --problems` lists them)")
    print(f"Files: {stats['files']} — " + ", ".join(f"{n} {s}" for s, n in sorted(by.items())))
    gone = by.get("missing", 0)  # their windows are kept, not counted with the files here
    print(f"Audio: {stats['audio_hours']:.2f} h in {plural(stats['windows'], 'window')}"
          + (f" ({stats['bytes_per_window']:.0f} bytes/window)" if stats["windows"] else "")
          + (f"; {plural(stats['missing_windows'], 'window')} kept for "
             f"{plural(gone, 'missing file')}" if stats["missing_windows"] else ""))
    emb = stats["embedded_windows"]
    print("Embedded: " + (", ".join(f"{plural(n, 'window')} by {m}" for m, n in emb.items())
                          or "none"))
    from core.labeltext import summary

    for tree, counts in stats["labels"].items():
        print(f"Labels ({tree}): {summary(counts)}")
    if last:
        print(f"Last scan: {scan_text(last)}")
    return EXIT_OK


def _labels_for_ls(library: Any, tree: str | None
                   ) -> tuple[str | None, dict[str, dict[str, Any]], list[str]]:
    """(the tree whose labels to show, its labels by path, every tree's name)."""
    from core.classify import current_tree, file_labels
    from core.schema import trees

    with library.reading() as conn:
        names = sorted(r[0] for r in conn.execute(trees.select().with_only_columns(trees.c.name)))
    if tree is None:
        if len(names) == 1:
            tree = names[0]
        else:  # several: the one labeled last (classify, label, the app), if any
            tree = current_tree(library)
            if tree is None:
                return None, {}, names
    return tree, {r["path"]: r for r in file_labels(library, tree)}, names


def _exact_duplicate_groups(library: Any) -> dict[str, int]:
    """path → the id of its group in `sampletree duplicates` (exact duplicates only)."""
    from core.duplicates import exact_groups

    groups = exact_groups(library)
    return {p: groups[i] for i, p in library.paths_of(list(groups)).items()}


def cmd_ls(args: argparse.Namespace) -> int:
    from core.labeltext import UNLABELED, count_states, record_state, record_text, summary

    with _open_library(args, create=False) as library:
        rows = _sort_rows(list(library.list_samples(
            status=PROBLEM_STATUSES if args.problems else args.status,
            analysis=_analysis_filter(args), noted=args.problems)), args.sort)
        tree, labels, tree_names = _labels_for_ls(library, args.tree)
        dup_group = _exact_duplicate_groups(library) if args.json else {}
        if args.peaks:
            from core import thumbnail

            thumbs = thumbnail.peaks_by_path(library)
        folders: list[dict[str, Any]] = []
        if args.problems and not (args.bpm or args.key or args.kind or args.lufs):
            from core.sources import folder_problems_now  # folders a scan could not read

            folders = [{"path": _printable(f["path"]), "status": "folder", "error": f["error"],
                        "duration_s": None, "windows": 0} for f in folder_problems_now(library)]
    for row in rows:
        if args.peaks:
            blob = thumbs.get(row["path"])
            row["peaks"] = None if blob is None else blob.hex()
        lab = labels.get(row["path"])
        row["label"] = None if lab is None else ("unknown" if lab["unknown"] else lab["node"])
        row["confidence"] = None if lab is None else lab["confidence"]
        row["state"] = None if tree is None else record_state(lab)
        row["_path"], row["path"] = row["path"], _printable(row["path"])
        if tree is not None:
            row["_text"] = record_text(lab)
    if args.json:
        for row in rows:
            row["duplicate_group"] = dup_group.get(row.pop("_path"))
        print(json.dumps([{k: v for k, v in r.items() if k != "_text"} for r in rows]
                         + folders, indent=1))
        return EXIT_OK
    for row in rows:
        dur = f"{row['duration_s']:7.2f}s" if row["duration_s"] is not None else "      -"
        extra = f"  {one_line(row['error'])}" if row["error"] else ""
        row["path"] = one_line(row["path"])  # a newline in a name must not split the record
        label = ""
        if tree is not None:
            # unknown: no class fits, so a probability among them means nothing (as the app)
            label = (f"  [{row['_text']}]" if row["state"] in (UNLABELED, "unknown")
                     else f"  [{row['_text']} {row['confidence']:.2f}]")
        more = _analysis_text(row) if args.long else ""
        wave = ""
        if args.peaks:
            wave = (thumbnail.sparkline(bytes.fromhex(row["peaks"])) if row["peaks"]
                    else " " * 32) + "  "
        print(f"{row['status']:<8}{dur} {row['windows']:>5}w  {wave}{row['path']}{label}{more}"
              f"{extra}")
    for f in folders:
        print(f"{'folder':<8}      -     -   {one_line(f['path'])}{os.sep}  "
              f"{one_line(f['error'])}")
    if folders:
        print(plural(len(folders), "folder") + " a scan could not read", file=sys.stderr)
    if args.problems:  # the files with problems: their labels are beside the point
        print(plural(len(rows), "file") + " with a problem", file=sys.stderr)
    elif tree is None:
        hint = ""
        if len(tree_names) > 1:  # which tree's labels? say how to see them
            hint = (f" (labels: {plural(len(tree_names), 'tree')}, choose one with --tree NAME: "
                    + ", ".join(tree_names[:6]) + (", …" if len(tree_names) > 6 else "") + ")")
        print(f"{plural(len(rows), 'file')}{hint}", file=sys.stderr)
    else:
        chosen = ""
        if args.tree is None and len(tree_names) > 1:
            others = [n for n in tree_names if n != tree]
            chosen = ("; the tree labeled last, --tree NAME for another: "
                      + ", ".join(others[:6]) + (", …" if len(others) > 6 else ""))
        print(f"{summary(count_states(r['state'] for r in rows))} (tree {tree}{chosen})",
              file=sys.stderr)
    return EXIT_OK


#: Commands the desktop build leaves out (with scikit-learn and matplotlib): making the
#: network is a developer's job (build_spec/sampletree.spec).
SOURCE_ONLY = ("corpus", "train", "evaluate")


def cmd_gui(args: argparse.Namespace) -> int:
    from app.common import check_library_folder
    from app.gui import has_display

    if args.library:
        check_library_folder(Path(args.library))
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


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader left


def main(argv: Sequence[str] | None = None) -> int:
    """The command line. A reader that goes away (``sampletree ls | head -3``) ends it
    quietly: no traceback and no "Exception ignored" at exit, status 141 as for tools
    killed by SIGPIPE."""
    try:
        try:
            return _main(argv)
        finally:  # output still buffered meets a closed pipe here, not at interpreter exit
            if (flush := getattr(sys.stdout, "flush", None)) is not None:
                flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):  # nothing more reaches the closed pipes
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from app.gui import has_display

        if not has_display():
            parser.print_usage(sys.stderr)
            print("sampletree: error: no display to open the app on; choose a COMMAND "
                  "(sampletree --help lists them)", file=sys.stderr)
            return EXIT_USAGE
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
        print(f"sampletree: error: {one_line(str(exc))}", file=sys.stderr)  # one line, always
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sampletree: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        raise  # `sampletree ls | head`: main ends quietly
    except OSError as exc:
        if args.debug:
            raise
        print(f"sampletree: error: {exc.strerror or exc}"
              + (f": {_shown(exc.filename)}" if exc.filename else ""), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
