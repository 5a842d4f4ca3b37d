"""Small helpers every command module shares."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.paths import default_library_path
from core.paths import display_path as printable
from core.paths import one_line

if TYPE_CHECKING:
    from core.library import Library

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "JSON_HELP",
    "HelpFormatter",
    "Parser",
    "check_window",
    "command",
    "count_int",
    "file_count",
    "fraction",
    "int_at_least",
    "int_list",
    "nonnegative_float",
    "open_library",
    "positive_float",
    "positive_int",
    "printable",
    "sample_id_for",
    "shown",
    "window_index",
]


def shown(path: object) -> str:
    """A path (or a message holding one) for human output: bytes that are not UTF-8 and
    control characters escaped, so a file name with a newline stays on its line (JSON
    output keeps names exact: :func:`printable`)."""
    return one_line(printable(path))  # type: ignore[arg-type]


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error line: the usage, then ``sampletree: error: …``, exit 2
    (subcommands' parsers are made of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"sampletree: error: {message}\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse swallows every OSError here: help or a version written into a closed pipe
        # (``sampletree --help | true``) then said 0. Let the BrokenPipeError through to
        # main, which ends quietly with 141 as every other command does.
        stream = file or sys.stderr
        if message and stream is not None:  # None: a windowed build has no console
            stream.write(message)


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        return _number(int, text, lambda v: v >= low, f"a whole number of {low} or more")

    parse.__name__ = f"int_at_least_{low}"
    return parse


def int_list(text: str) -> list[int]:
    """An argparse type: whole numbers of 1 or more separated by commas (``1,2,4``)."""
    return [positive_int(part.strip()) for part in text.split(",")]


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions; keeps paragraphs whose lines are indented (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if len(lines) > 1 and all(line.startswith("  ") for line in lines[1:]):
                out.append("\n".join([super()._fill_text(lines[0], width, indent),
                                      *(indent + line for line in lines[1:])]))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


JSON_HELP = "print JSON instead of text (for scripts)"


def command(sub: argparse._SubParsersAction, name: str, summary: str, *,
            description: str | None = None, examples: tuple[str, ...] = ()) -> Parser:
    """A subcommand with its one-line ``summary`` (in ``sampletree --help``), a
    description (``NAME --help``) and examples."""
    epilog = ("examples:\n" + "\n".join(f"  {e}" for e in examples)) if examples else None
    text = description or summary
    return sub.add_parser(name, help=summary, description=text[0].upper() + text[1:],
                          epilog=epilog, formatter_class=HelpFormatter)


def _number(kind: type, text: str, ok: Callable[[Any], bool], what: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if (kind is float and not math.isfinite(value)) or not ok(value):
        raise argparse.ArgumentTypeError(f"{text} is not {what}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _number(int, text, lambda v: v >= 1, "a whole number of 1 or more")


def count_int(text: str) -> int:
    """An argparse type: a whole number of at least 0 (an index, a count that may be 0)."""
    return _number(int, text, lambda v: v >= 0, "a whole number of 0 or more")


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    return _number(float, text, lambda v: v > 0, "a number above 0")


def nonnegative_float(text: str) -> float:
    """An argparse type: a number of at least 0."""
    return _number(float, text, lambda v: v >= 0, "a number of 0 or more")


def fraction(text: str) -> float:
    """An argparse type: a number from 0 to 1 (a confidence)."""
    return _number(float, text, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def check_library_folder(path: Path) -> None:
    """Refuse a new library in a folder that is not there: a typo in ``--library`` would
    otherwise make folders and a new, empty library there."""
    from core.errors import SampletreeError

    if not path.exists() and not path.parent.is_dir():
        raise SampletreeError(f"no folder {shown(str(path.parent))} for the library: "
                              "create it first, or check the --library path")


def open_library(args: argparse.Namespace, *, create: bool) -> Library:
    """The library named by ``--library`` (or the default); finishes interrupted relabels."""
    from core.backup import keep_problem
    from core.library import Library
    from core.relabel import recover

    path = Path(args.library or default_library_path())
    if args.library and create:
        check_library_folder(path)
    lib = Library(path, create=create)
    if (problem := keep_problem()) is not None:
        print(f"sampletree: note: {one_line(problem)}", file=sys.stderr)
    if lib.read_only:
        print(f"sampletree: note: the library {shown(str(lib.path))} is open read-only "
              f"({lib.read_only_reason}): nothing will be written", file=sys.stderr)
        return lib
    try:
        for message in recover(lib):
            print(f"sampletree: {one_line(message)}", file=sys.stderr)
    except BaseException:
        lib.close()
        raise
    return lib



def file_count(lib: Library) -> int:
    """Every file of the library, whatever its status."""
    from sqlalchemy import func, select

    from core.schema import samples

    with lib.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())


def label_counts(lib: Library, tree_name: str) -> dict[str, int]:
    """Files per label state (:mod:`core.labeltext`) for a tree, every file counted once:
    the numbers ``classify``, ``ls`` and the app print."""
    from sqlalchemy import func, select

    from core.labeltext import UNLABELED, count_states, label_state
    from core.schema import predictions
    from core.trees import load_tree

    tree = load_tree(lib, tree_name)
    with lib.reading() as conn:
        got = conn.execute(
            select(predictions.c.node_id, predictions.c.backed_off, predictions.c.unknown,
                   func.count())
            .where(predictions.c.tree_id == tree.id)
            .group_by(predictions.c.node_id, predictions.c.backed_off,
                      predictions.c.unknown)).all()
    counts = count_states((), 0)
    for node_id, backed_off, unknown, n in got:
        root = node_id is None or node_id == tree.root_id
        counts[label_state("" if root else "x", backed_off=bool(backed_off),
                           unknown=bool(unknown))] += int(n)
    counts[UNLABELED] = max(0, file_count(lib) - sum(counts.values()))
    return counts


def window_index(text: str) -> int:
    """An argparse type: a window index, a whole number from 0 (its upper end depends on
    the file: :func:`check_window`)."""
    return _number(int, text, lambda v: v >= 0, "a window index (a whole number from 0: "
                                                  "0 is the first window)")


def check_window(args: argparse.Namespace, lib: Library, path: str) -> None:
    """``--window I`` of a file of the library: an index outside the file's windows is a
    wrong command line, as any number out of range (the usage, then the allowed range,
    exit 2). Files the library has no windows of are left to the command to refuse."""
    from core.words import plural

    known = lib.known_samples().get(os.path.abspath(path))
    n = 0 if known is None else known.n_windows
    if n and not 0 <= args.window < n:
        allowed = "0" if n == 1 else f"0 to {n - 1}"
        args.parser.error(f"argument --window: {args.window} is out of range: "
                          f"{shown(path)} has {plural(n, 'window')}, so --window is "
                          f"{allowed}")


def sample_id_for(lib: Library, path: str, *, embedded: str | None = None) -> int:
    """The library's id of a file given on the command line. ``embedded``: what the
    command does with its embeddings ("explain", "compare"): a file that has none (it
    could not be read, was not read yet, or was scanned without the network) is then
    refused with the reason, in one line."""
    from sqlalchemy import select

    from core.errors import SampletreeError
    from core.schema import samples

    named = shown(path)
    if not str(path).strip():
        raise SampletreeError("no file given (the path is empty)")
    full = os.path.abspath(path)
    known = lib.known_samples().get(full)
    if known is None:
        if os.path.isdir(full):
            raise SampletreeError(f"{named} is a folder, not a file of the library "
                                  "(`sampletree ls` lists them)")
        from core.supports import not_in_library  # the reason `label` gives too

        hint = "" if os.path.lexists(full) else " (`sampletree ls` lists its files)"
        raise SampletreeError(f"{named}{not_in_library(full, lib.roots())}{hint}")
    if embedded and known.model_id is None:
        with lib.reading() as conn:
            error = conn.execute(select(samples.c.error)
                                 .where(samples.c.id == known.id)).scalar()
        why = {"error": f"could not be read at the last scan: {error or 'unknown error'};",
               "pending": "has not been read yet (a scan stopped before it): scan its "
                          "folder again;",
               "missing": "was missing at the last scan and was never read;"}.get(
            known.status, "was scanned without the network: scan it again with the model;")
        raise SampletreeError(f"{named} {why} it has no embeddings to {embedded}")
    return known.id
