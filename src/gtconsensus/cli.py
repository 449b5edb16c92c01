"""The command line: ``gtconsensus consolidate``, ``gtconsensus demo``.

Thin by design: parse arguments, call the library, print. ``main(argv) -> int``.
Exit codes: 0 every line consolidated; 1 some lines failed (they are in the
output with ``consensus.error`` and in the error file); 2 bad usage, an input
that cannot be read at all or an output that cannot be written (both checked
before the run); 130 Ctrl-C (:func:`console`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from gtconsensus._version import __version__
from gtconsensus.adapters import preflight, storage
from gtconsensus.adapters.manifest import (
    METHODS,
    ManifestOptions,
    ProgressCallback,
    RunSummary,
    write_worker_table,
)
from gtconsensus.adapters.merge import consolidate_manifests
from gtconsensus.consensus import parse_min_area
from gtconsensus.exceptions import OptionsError, SchemaError
from gtconsensus.limits import Limits
from gtconsensus.masks import DEFAULT_MAX_PIXELS
from gtconsensus.privacy import pseudonymize_worker_model, pseudonymize_worker_rows
from gtconsensus.review import cli as review
from gtconsensus.review.gold_answers import GoldFile, load_gold
from gtconsensus.worker_model import WorkerModel

__all__ = ["console", "main"]

EXIT_OK, EXIT_FAILED_LINES, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

_DESCRIPTION = """\
Consensus instance segmentation for SageMaker Ground Truth jobs that use the
crowd-instance-segmentation element. Reads an output manifest whose lines hold
every worker's answer (annotationsFromAllWorkers), and writes one consensus
segmentation per line, a confidence per instance and per image, and a quality
score per worker."""

_CONSOLIDATE_EPILOG = """\
output: each line is the input line with the label attribute replaced by
  {"annotatedResult": <consensus, shaped like one worker's answer>,
   "consensus": {method, confidence, instances, workers, rejected},
   "annotationsFromAllWorkers": <the raw answers, untouched>}
A line that cannot be consolidated keeps its raw answers and gets
consensus.error {code, message}; it is also recorded in the error file (a line
that is not a JSON object is in the error file only).

method: with --method auto (the default) every worker's reliability is
learned across the job (two passes, the input is read once) and used when the
median worker answered at least 20 objects (consensus.method "job-level");
otherwise each image is decided by majority ("per-image-majority").

exit status: 0 all lines consolidated, 1 some lines failed, 2 usage error or a
file that cannot be read or written (checked before the run), 130 Ctrl-C.

example:
  gtconsensus consolidate output.manifest -o consensus.manifest \\
      --label-attribute gt-label --workers workers.csv --errors errors.jsonl"""


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:  # argparse would name the function: "invalid _threshold value"
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # argparse would name the function: "invalid _positive_int value"
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--iou-threshold", type=_threshold, default=0.5, metavar="T",
        help="instances match when their IoU is above T (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help="refuse PNGs larger than N pixels, judged from the header (default: %(default)s)",
    )  # fmt: skip
    limits = Limits()
    parser.add_argument(
        "--max-answers", type=_positive_int, default=limits.max_answers, metavar="N",
        help="an object with more answers fails (too_many_answers) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-instances", type=_positive_int, default=limits.max_instances, metavar="N",
        help="an answer listing more instances is rejected (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-line-bytes", type=_positive_int, default=limits.max_line_bytes, metavar="N",
        help="a longer line fails unread (line_too_long) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-png-bytes", type=_positive_int, default=limits.max_png_base64, metavar="N",
        help="an answer whose base64 PNG is longer is rejected (default: %(default)s)",
    )  # fmt: skip
    matching = parser.add_mutually_exclusive_group()
    matching.add_argument(
        "--class-aware", dest="class_aware", action="store_true", default=False,
        help="instances of different classes never match: each class forms its own "
        "candidates, judged on their own",
    )  # fmt: skip
    matching.add_argument(
        "--class-agnostic", dest="class_aware", action="store_false",
        help="match instances by shape alone, the class is a vote among the matched "
        "instances (the default)",
    )  # fmt: skip
    parser.add_argument(
        "--min-area", action="append", default=[], metavar="N|CLASS=N", dest="min_area",
        help="ignore instances of fewer than N pixels (all pieces together), as if not drawn; "
        "CLASS=N for one class (repeat for others; classes not named keep every instance; a "
        "class no answer has is warned of at the end); default: 0, keep every instance",
    )  # fmt: skip
    parser.add_argument(
        "--method", choices=METHODS, default="auto",
        help="job: learn every worker's reliability across the job and decide with it; "
        "image: majority per image; auto: job when the median worker answered at least "
        "20 objects, else image (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--worker-model", metavar="FILE", dest="worker_model",
        help="decide with a saved worker model (JSON from --save-worker-model) instead of "
        "learning one",
    )  # fmt: skip
    parser.add_argument(
        "--save-worker-model", metavar="FILE", dest="save_worker_model",
        help="write the learned worker model (JSON) to FILE",
    )  # fmt: skip
    parser.add_argument(
        "--pseudonymize", metavar="SECRET",
        help="replace every worker id in the output, error file, worker table and saved model "
        "by a keyed hash (the same for one SECRET), so results can be shared outside the team",
    )  # fmt: skip
    parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress bar and no tables, only errors",
    )  # fmt: skip


def _add_gold_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gold", metavar="FILE",
        help="gold answers: a consolidated output manifest (local file) whose consensus is "
        "taken as the truth of its source-ref; on those images the gold answer is the output "
        "(consensus.method gold) and workers are scored against it (see docs/quality-loop.md)",
    )  # fmt: skip
    parser.add_argument(
        "--gold-attribute", metavar="ATTR",
        help="the label attribute holding the gold answers in the gold file (default: the "
        "line's only consolidated attribute; needed when a reviewed line holds two)",
    )  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtconsensus", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"gtconsensus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "consolidate", help="consolidate an output manifest",
        description="Consolidate every line of a Ground Truth output manifest, or of several "
        "(a job, its re-labeling rounds, an adjustment job: the answers for one image are "
        "merged into one object, see docs/merging.md).",
        epilog=_CONSOLIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    run.add_argument(
        "input", metavar="INPUT", nargs="+",
        help="output manifest to read (JSON Lines), or a consolidation-request payload file "
        "(a JSON list); a path, file:// or s3:// URI; - for stdin. Several (oldest first): "
        "the answers for the same source-ref are merged into one object (docs/merging.md)",
    )  # fmt: skip
    run.add_argument(
        "-o", "--output", required=True, metavar="OUTPUT",
        help="where to write the consolidated manifest (path or s3:// URI); - for stdout",
    )  # fmt: skip
    run.add_argument(
        "-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
        help="worker processes; the output is the same whatever N (default: all cores, "
        "%(default)s here)",
    )  # fmt: skip
    run.add_argument(
        "--engine", choices=("local", "dask"), default="local",
        help="local: worker processes on this machine; dask: a Dask cluster (the `dask` "
        "extra; one input: JSON Lines only; several: merged on this machine first; no "
        "--pseudonymize; see docs/scale.md) (default: %(default)s)",
    )  # fmt: skip
    run.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="with --engine dask: the scheduler's address (tcp://host:8786); default: a "
        "local cluster of --jobs worker processes",
    )  # fmt: skip
    run.add_argument(
        "--staging", metavar="URL",
        help="with --engine dask and several inputs: where the client stages the merged "
        "lines for the workers (a folder or s3:// URL every worker reads; default: the "
        "temporary folder, which serves workers on this machine)",
    )  # fmt: skip
    run.add_argument(
        "--chunk-lines", type=_positive_int, default=8, metavar="N",
        help="lines per task sent to a worker process (default: %(default)s)",
    )  # fmt: skip
    run.add_argument(
        "--no-follow", action="store_true",
        help="do not read referenced files (worker-response-ref, annotationData.s3Uri, the "
        "Lambda's -ref keys): such lines fail with unresolved_reference",
    )  # fmt: skip
    run.add_argument(
        "--resume", action="store_true",
        help="keep a checkpoint beside OUTPUT (OUTPUT.partial, OUTPUT.partial.json) and, when "
        "an interrupted run with the same inputs (all of them, in the same order) and options "
        "left one, continue from it; the output is the same as an uninterrupted run's (either "
        "--engine continues a run of the other: the checkpoint is the same)",
    )  # fmt: skip
    run.add_argument(
        "--label-attribute", metavar="ATTR",
        help="the key holding the workers' answers (default: inferred per line when "
        "exactly one key holds annotationsFromAllWorkers)",
    )  # fmt: skip
    run.add_argument(
        "--element", metavar="NAME",
        help="name of the crowd-instance-segmentation element in the answers "
        "(default: annotatedResult, or the answer's only key)",
    )  # fmt: skip
    run.add_argument(
        "--workers", metavar="FILE", dest="workers_path",
        help="write the job-level worker table (CSV, or JSON if FILE ends in .json)",
    )  # fmt: skip
    run.add_argument(
        "--errors", metavar="FILE", dest="errors_path",
        help="write one JSON record per failed line (line, code, message, raw); "
        "default: OUTPUT.errors.jsonl when OUTPUT is a file",
    )  # fmt: skip
    _add_run_options(run)
    _add_gold_option(run)
    demo = commands.add_parser(
        "demo", help="consolidate the example job shipped with gtconsensus",
        description="Consolidate a small example job (Ground Truth's exact output-manifest "
        "format, made by the project) and show the worker table. Writes DIR/consensus.manifest "
        "(the consolidated manifest), DIR/workers.csv and DIR/errors.jsonl.",
    )  # fmt: skip
    demo.add_argument(
        "-o", "--output-dir", default="gtconsensus-demo", metavar="DIR",
        help="folder for the outputs (default: %(default)s)",
    )  # fmt: skip
    _add_run_options(demo)
    workers = commands.add_parser(
        "workers", help="the job-level worker table of a manifest, on the terminal and in a file",
        description="Consolidate OUTPUT_OR_INPUT again (an input manifest, or an output "
        "manifest of gtconsensus, which keeps the raw answers) without writing it, and print "
        "every worker's row, best score first, with the counts; -o writes the table as CSV, "
        "or JSON when the name ends in .json. Exit status as for consolidate: 0 every line "
        "consolidated, 1 some lines failed (the table counts only the others; the first "
        "failure is printed), 2 usage error or a file that cannot be read or written.",
    )  # fmt: skip
    workers.add_argument(
        "input", metavar="OUTPUT_OR_INPUT", nargs="+",
        help="a manifest (path or s3://; - for stdin). Several (oldest first): the answers for "
        "the same source-ref are merged and one worker model spans them, as for consolidate",
    )  # fmt: skip
    workers.add_argument(
        "-o", "--output", metavar="FILE", help="write the table (CSV, or JSON for .json)"
    )
    workers.add_argument(
        "--label-attribute", metavar="ATTR",
        help="the key holding the workers' answers (default: inferred per line when exactly "
        "one key holds annotationsFromAllWorkers)",
    )  # fmt: skip
    workers.add_argument(
        "-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
        help="worker processes (default: all cores, %(default)s here)",
    )  # fmt: skip
    _add_run_options(workers)
    _add_gold_option(workers)
    review.add_parsers(commands)  # render, report, export coco
    return parser


@contextmanager
def _progress_bar(path: str | Sequence[str], quiet: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on a terminal only: lines done, lines/s, time left.

    The bar follows the input's bytes (one-pass and pass 1) and then, for the
    job-level method's pass 2, the lines counted in pass 1.
    """
    sizes = [storage.size(p) for p in ([path] if isinstance(path, str) else path)]
    total = None if None in sizes else sum(s for s in sizes if s is not None)
    if quiet or total is None or not sys.stderr.isatty():
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:  # the `cli` extra is not installed: no bar, same results
        yield None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[lines]:,} lines"), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        state: dict[str, Any] = {"phase": None, "lines": 0, "seen": 0}

        def update(phase: str, lines: int, nbytes: int) -> None:
            if phase != state["phase"]:
                if state["phase"] != "reading":  # input lines, before several merge
                    state["seen"] = max(state["seen"], state["lines"])
                by_lines = phase == "pass 2"
                size = state["seen"] if by_lines else total
                state.update(phase=phase, lines=0, start=time.perf_counter(),
                             task=bar.add_task(phase, total=size, lines=0, rate=""))  # fmt: skip
                state["by_lines"] = by_lines
            state["lines"] += lines
            elapsed = max(time.perf_counter() - state["start"], 1e-9)
            rate = f"{state['lines'] / elapsed:,.1f} lines/s"
            step = lines if state["by_lines"] else nbytes
            bar.update(state["task"], advance=step, lines=state["lines"], rate=rate)

        yield update


def _format(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_workers(summary: RunSummary, secret: str | None, limit: int | None = 20) -> None:
    rows = sorted(_rows(summary, secret), key=lambda r: (-(r["score"] or -1.0), r["worker_id"]))  # type: ignore[operator]
    if not rows:
        return
    shown = ("worker_id", "score", "reliability", "objects", "instances", "precision", "recall",
             "mean_iou", "pq")  # fmt: skip
    cells = [[_format(r[c]) for c in shown] for r in rows[:limit]]
    numeric = {c for c in shown if c != "worker_id"}
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(shown)]

    def aligned(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if c in numeric else v.ljust(w)
            for c, v, w in zip(shown, values, widths, strict=True)
        )

    print(aligned(shown))
    for row in cells:
        print(aligned(row))
    if limit is not None and len(rows) > limit:
        print(f"... and {len(rows) - limit} more workers (see the worker table file)")
    sys.stdout.flush()  # the table before the summary that goes to stderr


def _load_model(path: str | None) -> WorkerModel | None:
    if path is None:
        return None
    return WorkerModel.from_json(storage.read_bytes(path))


def _rows(summary: RunSummary, secret: str | None) -> list[dict[str, object]]:
    """The worker table, pseudonymised when a secret is given."""
    rows = summary.worker_rows()
    return rows if secret is None else pseudonymize_worker_rows(rows, secret)


def _model_json(text: str, secret: str | None) -> str:
    """A saved worker model, pseudonymised when a secret is given."""
    if secret is None:
        return text
    return json.dumps(pseudonymize_worker_model(json.loads(text), secret), indent=2)


def _limits_of(args: argparse.Namespace) -> Limits:
    """The input limits given on the command line (defaults where a command has none)."""
    defaults = Limits()
    return Limits(
        max_pixels=args.max_pixels,
        max_answers=getattr(args, "max_answers", defaults.max_answers),
        max_instances=getattr(args, "max_instances", defaults.max_instances),
        max_line_bytes=getattr(args, "max_line_bytes", defaults.max_line_bytes),
        max_png_base64=getattr(args, "max_png_bytes", defaults.max_png_base64),
    )


def _load_gold(args: argparse.Namespace) -> GoldFile | None:
    """The gold answers of ``--gold``, when given (``bad_gold`` when unusable)."""
    path = getattr(args, "gold", None)
    if path is None:
        return None
    gold = load_gold(path, label_attribute=getattr(args, "gold_attribute", None))
    if gold.skipped:  # a warning, like gold answers of no input line: --quiet keeps it
        line, code = gold.skipped[0]
        print(f"gtconsensus: warning: {len(gold.skipped)} lines of {path} hold no gold answer "
              f"and are skipped (first: line {line}, {code})", file=sys.stderr)  # fmt: skip
    return gold


def _report_classes(min_area: int | Mapping[str, int], summary: RunSummary) -> None:
    """Warn of ``--min-area`` classes that no answer of the run has (a misspelt name
    would otherwise erase nothing, silently)."""
    if not isinstance(min_area, Mapping) or not summary.classes_known:
        return
    unknown = sorted(set(min_area) - summary.classes_seen)
    if unknown and summary.consolidated + summary.failed:
        seen = ", ".join(repr(name) for name in sorted(summary.classes_seen)[:20]) or "none"
        more = " ..." if len(summary.classes_seen) > 20 else ""
        print(f"gtconsensus: warning: --min-area names classes that no answer has: "
              f"{', '.join(repr(name) for name in unknown)} (classes seen: {seen}{more})",
              file=sys.stderr)  # fmt: skip


def _report_gold(gold: GoldFile | None, summary: RunSummary, quiet: bool) -> None:
    """Say how many lines gold decided, and warn of gold answers that matched no line."""
    if gold is None:
        return
    unknown = sorted(set(gold.answers) - summary.gold_seen)
    if not quiet:
        print(f"gold: {summary.gold_lines} lines decided by their gold answer "
              f"({len(gold.answers)} gold answers)", file=sys.stderr)  # fmt: skip
    if unknown:
        print(f"gtconsensus: warning: {len(unknown)} gold answers name a source-ref that no "
              f"input line has (first: {unknown[0]})", file=sys.stderr)  # fmt: skip


def _manifest_options(
    args: argparse.Namespace, gold: GoldFile | None, min_area: int | dict[str, int]
) -> ManifestOptions:
    """The run's options from the command line (``consolidate``, ``demo``, ``workers``).

    Raises ``OSError`` or ``OptionsError`` when ``--worker-model`` cannot be used.
    """
    return ManifestOptions(
        label_attribute=getattr(args, "label_attribute", None),
        element=getattr(args, "element", None),
        iou_threshold=args.iou_threshold,
        max_pixels=args.max_pixels,
        limits=_limits_of(args),
        pseudonymize=getattr(args, "pseudonymize", None),
        method=args.method,
        worker_model=_load_model(getattr(args, "worker_model", None)),
        fit_model=getattr(args, "save_worker_model", None) is not None,
        fetch=_no_fetch if getattr(args, "no_follow", False) else None,
        gold=None if gold is None else gold.answers,
        class_aware=args.class_aware,
        min_area=min_area,
    )


def _run(
    args: argparse.Namespace,
    input_path: str | Sequence[str],
    output: str,
    errors: str | None,
    workers: str | None,
) -> int:
    save = getattr(args, "save_worker_model", None)
    try:
        gold = _load_gold(args)
        min_area = parse_min_area(args.min_area)
    except OptionsError as exc:
        print(f"gtconsensus: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = _manifest_options(args, gold, min_area)
    except (OSError, OptionsError) as exc:
        print(f"gtconsensus: cannot use the worker model: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        problem = _engine_problem(args, options)
        if problem is not None:
            print(f"gtconsensus: {problem}", file=sys.stderr)
            return EXIT_USAGE
        inputs = [input_path] if isinstance(input_path, str) else list(input_path)
        if getattr(args, "engine", "local") == "dask":
            summary = _run_dask(args, inputs, output, errors, options)
        else:
            with _progress_bar(inputs, args.quiet) as progress:
                summary = consolidate_manifests(
                    inputs, output, errors_path=errors, options=options, progress=progress,
                    jobs=getattr(args, "jobs", 1), chunk_lines=getattr(args, "chunk_lines", 8),
                    resume=getattr(args, "resume", False),
                )  # fmt: skip
        _save_model(save, summary, options.pseudonymize)
    except OptionsError as exc:
        print(f"gtconsensus: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"gtconsensus: cannot read or write: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if workers and not _write_table(_rows(summary, options.pseudonymize), workers):
        return EXIT_USAGE
    _report_gold(gold, summary, args.quiet)
    _report_classes(min_area, summary)
    elapsed = time.perf_counter() - started
    if not args.quiet:
        if summary.resumed_after is not None:
            several = not isinstance(input_path, str) and len(input_path) > 1
            unit = "merged line" if several else "input line"  # several: objects, in order
            print(f"resumed after {unit} {summary.resumed_after}", file=sys.stderr)
        if output != "-":
            _print_workers(summary, options.pseudonymize)
        print(
            f"{summary.consolidated} of {summary.lines} lines consolidated ({summary.method}), "
            f"{summary.failed} failed, {_count(summary.rejected_answers, 'answer')} rejected, "
            f"in {elapsed:.1f} s",
            file=sys.stderr,
        )
        where = [f"output: {output}"]
        if errors and summary.failed:
            where.append(f"errors: {errors}")
        if workers:
            where.append(f"workers: {workers}")
        if save:
            where.append(f"worker model: {save}")
        print("; ".join(where), file=sys.stderr)
    first = _first_failure(errors) if summary.failed else None
    _report_failures(summary, first, errors, args.quiet)
    return EXIT_FAILED_LINES if summary.failed else EXIT_OK


def _engine_problem(args: argparse.Namespace, options: ManifestOptions) -> str | None:
    """An option that does not go with the engine chosen (``--engine``), as a sentence."""
    dask = getattr(args, "engine", "local") == "dask"
    if dask and options.pseudonymize is not None:
        return "--pseudonymize works with the local engine only"
    for flag in ("scheduler", "staging"):  # given without --engine dask: forgotten?
        if not dask and getattr(args, flag, None):
            return f"--{flag} needs --engine dask"
    return None


def _report_failures(
    summary: RunSummary, first: str | None, errors: str | None, quiet: bool
) -> None:
    """Say why lines failed, on the terminal: ``first``, the error file's first record.

    A misspelt ``--label-attribute`` fails every line; the reason should not need
    the error file opened. ``--quiet`` keeps this (errors only), in one line.
    """
    if not summary.failed:
        return
    if not quiet:
        if first is not None:
            print(f"first failure: {first}", file=sys.stderr)
        return
    text = f"gtconsensus: {summary.failed} of {summary.lines} lines failed"
    text += "" if first is None else f", first: {first}"
    text += "" if errors is None else f" (all in {'standard output' if errors == '-' else errors})"
    print(text, file=sys.stderr)


def _first_failure(errors: str | None) -> str | None:
    """``line N [code] message`` of the error file's first record (a local file)."""
    if errors is None or errors == "-" or storage.is_remote(errors):
        return None
    if storage.is_stream(storage.local_path(errors)):  # /dev/stderr: reading it would wait
        return None
    try:
        with open(storage.local_path(errors), encoding="utf-8") as handle:
            record = json.loads(handle.readline())
        where = f"{record['file']} line" if "file" in record else "line"  # several inputs
        return f"{where} {record['line']} [{record['code']}] {record['message']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _consolidate(args: argparse.Namespace) -> int:
    errors = args.errors_path
    if errors is None and _is_file(args.output):
        errors = f"{args.output}.errors.jsonl"
    outputs = {"output": args.output, "error file": errors, "worker table": args.workers_path,
               "worker model": args.save_worker_model}  # fmt: skip
    if not _usable(args, outputs):
        return EXIT_USAGE
    return _run(args, args.input, args.output, errors, args.workers_path)


def _is_file(output: str) -> bool:
    """Whether ``output`` is a file (local or ``s3://``): not ``-``, a pipe or a device,
    beside which there is no ``OUTPUT.errors.jsonl`` to write."""
    if output == "-":
        return False
    return storage.is_remote(output) or not storage.is_stream(storage.local_path(output))


def _usable(args: argparse.Namespace, outputs: Mapping[str, str | None]) -> bool:
    """Whether every input can be read and every output written; says why not."""
    read = [path for path in (args.gold, args.worker_model) if path]
    problem = preflight.file_problem(args.input, outputs, command=args.command, read=read)
    if problem is not None:
        print(f"gtconsensus: {problem}", file=sys.stderr)
    return problem is None


def _run_dask(
    args: argparse.Namespace, inputs: Sequence[str], output: str, errors: str | None,
    options: ManifestOptions,
) -> RunSummary:  # fmt: skip
    try:
        from gtconsensus.adapters.dask_engine import consolidate_with_dask
    except ImportError as exc:
        raise OptionsError(
            "bad_setting", f"--engine dask needs the `dask` extra: pip install 'gtconsensus[dask]' "
            f"({exc})",
        ) from exc  # fmt: skip
    with ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler is None:
            from distributed import LocalCluster

            cluster = stack.enter_context(LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=args.jobs, threads_per_worker=1, processes=True, dashboard_address=None
            ))  # fmt: skip
            scheduler = cluster.scheduler_address
        progress = stack.enter_context(_progress_bar(inputs, args.quiet))
        return consolidate_with_dask(
            inputs, output, scheduler=scheduler, errors_path=errors, options=options,
            progress=progress, jobs=args.jobs, staging=args.staging,
            resume=getattr(args, "resume", False),
        )  # fmt: skip


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1.

    Examples
    --------
    >>> _count(1, "answer"), _count(0, "answer")
    ('1 answer', '0 answers')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _no_fetch(uri: str) -> bytes:
    """The fetch of ``--no-follow``: every reference stays unresolved."""
    raise SchemaError("unresolved_reference", f"not following {uri} (--no-follow)")


def _save_model(path: str | None, summary: RunSummary, secret: str | None) -> None:
    """Write the fitted worker model (``--save-worker-model``), when asked and fitted."""
    if path and summary.model is not None:
        with storage.atomic_writer(path) as handle:
            handle.write(_model_json(summary.model.to_json(), secret) + "\n")


def _write_table(rows: list[dict[str, object]], path: str) -> bool:
    """Write the worker table; say so on standard error when it cannot be written."""
    try:
        write_worker_table(rows, path)
    except (OSError, OptionsError) as exc:
        print(f"gtconsensus: cannot write the worker table {path!r}: {exc}", file=sys.stderr)
        return False
    return True


def _workers(args: argparse.Namespace) -> int:
    """``gtconsensus workers``: consolidate without writing, print and save the worker table."""
    outputs = {"worker table": args.output, "worker model": args.save_worker_model}
    if not _usable(args, outputs):
        return EXIT_USAGE
    try:
        gold = _load_gold(args)
        min_area = parse_min_area(args.min_area)
        options = _manifest_options(args, gold, min_area)
        with tempfile.TemporaryDirectory(prefix="gtconsensus-") as scratch:
            errors = os.path.join(scratch, "errors.jsonl")  # for the first failure only
            summary = consolidate_manifests(
                args.input, os.devnull, errors_path=errors, options=options, jobs=args.jobs
            )
            first = _first_failure(errors) if summary.failed else None
        _save_model(args.save_worker_model, summary, options.pseudonymize)
    except OptionsError as exc:
        print(f"gtconsensus: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"gtconsensus: cannot read: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = _rows(summary, getattr(args, "pseudonymize", None))
    _report_gold(gold, summary, args.quiet)
    _report_classes(min_area, summary)
    if args.output and not _write_table(rows, args.output):
        return EXIT_USAGE
    if not args.quiet:
        answers = sum(int(r["objects"]) for r in rows)  # type: ignore[call-overload]
        print(f"{len(rows)} workers, {summary.lines} lines ({summary.consolidated} consolidated, "
              f"{summary.failed} failed), {answers} answers, method {summary.method}")  # fmt: skip
        _print_workers(summary, getattr(args, "pseudonymize", None), limit=None)
        if args.output:
            print(f"worker table: {args.output}", file=sys.stderr)
    _report_failures(summary, first, None, args.quiet)
    return EXIT_FAILED_LINES if summary.failed else EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    folder = Path(args.output_dir)
    problem = preflight.output_problem(str(folder / "consensus.manifest"), "output")
    if problem is not None:
        print(f"gtconsensus: {problem}", file=sys.stderr)
        return EXIT_USAGE
    folder.mkdir(parents=True, exist_ok=True)
    example = resources.files("gtconsensus.data").joinpath("example.manifest")
    with resources.as_file(example) as path:
        if not args.quiet:
            print(f"example job: {path} (Ground Truth output manifest, 3 workers per image)")
        code = _run(
            args,
            str(path),
            str(folder / "consensus.manifest"),
            str(folder / "errors.jsonl"),
            str(folder / "workers.csv"),
        )
    return code


def console() -> int:
    """The ``gtconsensus`` command and ``python -m gtconsensus``: :func:`main`, with
    Ctrl-C reported in one line instead of a traceback.

    :func:`main` lets ``KeyboardInterrupt`` through, for callers that embed it.
    """
    try:
        return main()
    except KeyboardInterrupt:
        print("\ngtconsensus: interrupted; a file appears only when complete "
              "(consolidate --resume continues an interrupted run)", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if hasattr(args, "handler"):  # the review commands (gtconsensus.review.cli)
        return int(args.handler(args))
    if args.command == "demo":
        return _demo(args)
    if args.command == "workers":
        return _workers(args)
    return _consolidate(args)
