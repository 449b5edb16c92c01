"""Command-line parts of the review tools: ``render``, ``report``, ``export ...``.

:func:`add_parsers` registers the subcommands on the main parser's
subparsers; each sets ``handler`` to the function that runs it, returning the
exit status (0 done, 1 done with some lines left out, 2 usage or input error).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gtconsensus.exceptions import GtConsensusError

__all__ = ["add_parsers"]

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

_N = TypeVar("_N", int, float)

_RENDER_EPILOG = """\
The first panel is the consensus, then one panel per worker. An instance keeps
its colour in every panel (a worker's instance takes the colour of the consensus
instance it matches); white is a worker's instance that is not in the
consensus; magenta marks pixels where a worker disagrees with the consensus (in
the consensus panel: where any worker does, stronger where more do).

The source image is looked for under --images (by its S3 key, then its file
name), then as a local path; with --s3, s3:// images are read with boto3.
Otherwise the background is neutral grey.

exit status: 0 written; 2 usage error, no such line, or a line that was not
consolidated (its error code is printed).

example:
  gtconsensus render consensus.manifest --line 12 -o line12.png --images photos/"""

_REPORT_EPILOG = """\
The page needs no network: CSS, JavaScript, SVG charts and PNG overlays are
inline. It shows the job's summary, the worker table (click a column to sort),
precision against recall and boundary quality per worker, the distribution of
instance confidence, the least-agreed images with their overlays, and the
failed lines.

exit status: 0 written; 2 usage error, a --workers file that is not a worker
table, or a manifest where no line holds a consensus (consolidate it first).

example:
  gtconsensus report consensus.manifest -o report.html --workers workers.csv"""

_COCO_EPILOG = """\
One image entry per consolidated line (id = line number, file_name =
source-ref, width, height), one annotation per consensus instance (compressed
RLE segmentation, bbox, area, iscrowd 0, score = the instance's confidence),
categories from the class names of the consensus and the answers. Load it with
pycocotools:
  from pycocotools.coco import COCO; coco = COCO("annotations.json")

exit status: 0 every line exported; 1 failed lines were left out (listed on
standard error); 2 usage error.

example:
  gtconsensus export coco consensus.manifest -o annotations.json"""


_ADJUSTMENT_EPILOG = """\
A line is chosen when any of the given tests holds: its image confidence is
below --below, fewer than --min-workers answers were consolidated, its
disagreement is at least --disagreement, or (with --rejected) some answers
were rejected. The disagreement of a line is the share of its (worker,
instance) decisions that depart from the consensus: for each consensus
instance, the workers who did not draw it (missed), and each instance a
worker drew that no consensus instance is made of (extra), over these plus
the drawn ones (consensus.instances[].support, consensus.workers[].instances).
Two of three workers finding the only instance give 1/3. Failed lines have
no consensus to start from and are left out (listed on standard error);
lines decided by a gold answer (consolidate --gold) were reviewed already
and are never chosen.

Each chosen line becomes {"source-ref", "gtconsensus-initial-value": {"src",
"instances"}, "gtconsensus-adjustment": {"line", "confidence",
"disagreement", "reasons"}};
the consensus PNG is written to --images-out as NNNNNN.png (the line
number). Run the adjustment job with the shipped pre-annotation Lambda and
worker template: the worker opens the image with the consensus drawn. Its
output consolidates like any other.

exit status: 0 written; 1 written, failed lines were left out; 2 usage error.

example:
  gtconsensus export adjustment consensus.manifest -o adjust.manifest \\
      --below 0.6 --images-out s3://bucket/adjust/"""


_MASKS_EPILOG = """\
Under DEST (a folder, or an s3:// prefix with the `aws` extra): NNNNNN.png per
consolidated line (palette PNG of classes: index 0 BACKGROUND, index c the
c-th class), NNNNNN-instances.png (the consensus PNG, instance ids),
class-map.json, and output.manifest shaped like Ground Truth's built-in
semantic-segmentation output: "<attr>-ref" and "<attr>-ref-metadata" with
"internal-color-map" (class-name, hex-color, confidence per index).

exit status: 0 every line exported; 1 failed lines were left out (listed on
standard error); 2 usage error.

example:
  gtconsensus export masks consensus.manifest -o masks/ --classes Person,Car,Bicycle"""


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label-attribute",
        metavar="ATTR",
        help="the key holding the consolidated value (default: inferred per line)",
    )
    parser.add_argument(
        "--images",
        metavar="DIR",
        help="folder holding the source images (by S3 key or file name)",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="read s3:// source images with boto3 (the `aws` extra); references "
        "(the Lambda's -ref keys, answers by s3Uri) are always followed",
    )


def _add_pseudonymize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pseudonymize",
        metavar="SECRET",
        help="replace every worker id by a keyed hash (HMAC-SHA256 with SECRET), the same "
        "for the same secret, so the result can be shared outside the team",
    )


def _pseudonymized(handler: Callable[[argparse.Namespace], int]) -> Any:
    """``handler`` run on pseudonymised copies of the manifest (and worker table) when
    ``--pseudonymize`` is given."""

    def run(args: argparse.Namespace) -> int:
        problem = _replaces_what_is_read(args)
        if problem is not None:
            print(f"gtconsensus: {problem}", file=sys.stderr)
            return EXIT_USAGE
        secret = getattr(args, "pseudonymize", None)
        if not secret or not Path(args.manifest).is_file():
            return handler(args)
        from gtconsensus.review.pseudonymize import (
            pseudonymize_manifest,
            pseudonymize_worker_csv,
        )

        with tempfile.TemporaryDirectory(prefix="gtconsensus-") as folder:
            copy = Path(folder) / Path(args.manifest).name
            pseudonymize_manifest(args.manifest, copy, secret, fetch=_fetchers(args)[0])
            # followed again, the copy's references would bring the real ids back
            changed: dict[str, Any] = {"manifest": str(copy), "follow": False}
            workers = getattr(args, "workers", None)
            if workers and Path(workers).is_file():
                from gtconsensus.review.report import read_worker_table

                try:  # refused here as the command would refuse the original
                    read_worker_table(workers)
                except GtConsensusError as exc:
                    print(f"gtconsensus: {exc.message} [{exc.code}]", file=sys.stderr)
                    return EXIT_USAGE
                changed["workers"] = str(Path(folder) / "workers.csv")
                pseudonymize_worker_csv(workers, changed["workers"], secret)
            return handler(argparse.Namespace(**{**vars(args), **changed}))

    return run


def _replaces_what_is_read(args: argparse.Namespace) -> str | None:
    """Why ``-o`` must not be written: it names the manifest or the worker table read."""
    from gtconsensus.adapters.preflight import clash

    read = [p for p in (args.manifest, getattr(args, "workers", None)) if p]
    return clash([], {"output": args.output}, read=read)


def _fetchers(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(fetch for references, fetch for images)``.

    References (the Lambda's ``-ref`` keys, answers by ``s3Uri``) are always
    followed, as ``consolidate`` follows them; source images are read from S3
    only with ``--s3``.
    """
    from gtconsensus.adapters.storage import fetch

    references = fetch if getattr(args, "follow", True) else None
    if not getattr(args, "s3", False):
        return references, None
    from gtconsensus.review.render import s3_fetch

    return references, s3_fetch


def _number(kind: Callable[[str], _N], text: str, invalid: _N) -> _N:
    """``kind(text)``, or ``invalid`` (which the caller refuses, with the expected range)
    when ``text`` is not a number: argparse's own message would name the function."""
    try:
        return kind(text)
    except ValueError:
        return invalid


def _positive(text: str) -> int:
    value = _number(int, text, 0)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _count(text: str) -> int:
    value = _number(int, text, -1)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _manifest_exists(path: str) -> bool:
    if Path(path).is_file():
        return True
    print(f"gtconsensus: output manifest {path!r} is not a readable file", file=sys.stderr)
    return False


def _render(args: argparse.Namespace) -> int:
    from gtconsensus.review.outputs import read_output_object
    from gtconsensus.review.render import load_source_image, render_overlay

    if not _manifest_exists(args.manifest):
        return EXIT_USAGE
    fetch, image_fetch = _fetchers(args)
    try:
        obj = read_output_object(
            args.manifest, args.line, label_attribute=args.label_attribute, fetch=fetch
        )
        image = load_source_image(obj.source_ref, image_root=args.images, fetch=image_fetch)
        picture = render_overlay(
            obj, image=image, panel_width=args.panel_width, columns=args.columns, fetch=fetch
        )
        picture.save(args.output, format="PNG", optimize=True)
    except GtConsensusError as exc:
        print(f"gtconsensus render: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    except (ImportError, OSError) as exc:
        print(f"gtconsensus render: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"overlay of line {args.line}: {args.output} ({picture.width}x{picture.height})",
        file=sys.stderr,
    )
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from gtconsensus.review.report import build_report

    if not _manifest_exists(args.manifest):
        return EXIT_USAGE
    if args.workers and not Path(args.workers).is_file():
        print(f"gtconsensus: worker table {args.workers!r} is not a readable file", file=sys.stderr)
        return EXIT_USAGE
    fetch, image_fetch = _fetchers(args)
    try:
        page = build_report(
            args.manifest,
            workers_csv=args.workers,
            gallery=args.gallery,
            label_attribute=args.label_attribute,
            image_root=args.images,
            fetch=fetch,
            image_fetch=image_fetch,
        )
        Path(args.output).write_text(page, encoding="utf-8")
    except GtConsensusError as exc:
        print(f"gtconsensus report: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    except (ImportError, OSError) as exc:
        print(f"gtconsensus report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {args.output} ({len(page.encode('utf-8')) // 1024} KB)", file=sys.stderr)
    return EXIT_OK


def _export_coco(args: argparse.Namespace) -> int:
    from gtconsensus.review.coco import export_coco

    if not _manifest_exists(args.manifest):
        return EXIT_USAGE
    try:
        summary = export_coco(
            args.manifest, args.output, label_attribute=args.label_attribute,
            fetch=_fetchers(args)[0],
        )  # fmt: skip
    except OSError as exc:
        print(f"gtconsensus export coco: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"COCO: {summary.images} images, {summary.annotations} annotations, "
        f"{summary.categories} categories: {args.output}",
        file=sys.stderr,
    )
    return _report_failed(summary.skipped, exported=summary.images)


def _export_adjustment(args: argparse.Namespace) -> int:
    from gtconsensus.review.adjust import write_adjustment_manifest

    if not _manifest_exists(args.manifest):
        return EXIT_USAGE
    if (
        args.below is None
        and args.min_workers is None
        and not args.rejected
        and args.disagreement is None
    ):
        print(
            "gtconsensus export adjustment: choose lines with --below, --min-workers, "
            "--disagreement or --rejected",
            file=sys.stderr,
        )
        return EXIT_USAGE
    images_out = args.images_out or str(Path(args.output).with_suffix("")) + "-png"
    try:
        summary = write_adjustment_manifest(
            args.manifest,
            args.output,
            images_out=images_out,
            images_url=args.images_url,
            below=args.below,
            min_workers=args.min_workers,
            rejected=args.rejected,
            label_attribute=args.label_attribute,
            disagreeing=args.disagreement,
            fetch=_fetchers(args)[0],
        )
    except GtConsensusError as exc:
        print(f"gtconsensus export adjustment: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    except (ImportError, OSError) as exc:
        print(f"gtconsensus export adjustment: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"adjustment: {summary.chosen} of {summary.lines} lines chosen: {args.output} "
        f"(PNGs in {images_out})",
        file=sys.stderr,
    )
    if summary.chosen and not (args.images_url or images_out).startswith("s3://"):
        print(
            f"note: {args.output} names the consensus PNGs by local path ({images_out}/...), "
            "which a Ground Truth job cannot read: upload the folder and export again with "
            "--images-url s3://BUCKET/PREFIX/, or write them with --images-out s3://...",
            file=sys.stderr,
        )
    return _report_failed(summary.failed, exported=summary.lines - len(summary.failed))


def _export_masks(args: argparse.Namespace) -> int:
    from gtconsensus.review.mask_export import export_masks

    if not _manifest_exists(args.manifest):
        return EXIT_USAGE
    try:
        summary = export_masks(
            args.manifest,
            args.output,
            classes=args.classes,
            attribute=args.attribute,
            label_attribute=args.label_attribute,
            fetch=_fetchers(args)[0],
        )
    except GtConsensusError as exc:
        print(f"gtconsensus export masks: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    except (ImportError, OSError) as exc:
        print(f"gtconsensus export masks: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"masks: {summary.images} images, {len(summary.classes)} classes: {summary.manifest}",
        file=sys.stderr,
    )
    return _report_failed(summary.failed, exported=summary.images)


def _report_failed(failed: tuple[tuple[int, str], ...], *, exported: int) -> int:
    """List the lines left out; when none held a consensus, say what the file likely is."""
    if not failed:
        return EXIT_OK
    shown = ", ".join(f"line {line} ({code})" for line, code in failed[:10])
    more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
    print(f"left out {len(failed)} failed lines: {shown}{more}", file=sys.stderr)
    if not exported and all(code == "missing_consensus" for _, code in failed):
        from gtconsensus.review.outputs import CONSOLIDATE_FIRST

        print(f"no line holds a consensus: {CONSOLIDATE_FIRST}", file=sys.stderr)
    return EXIT_PARTIAL


def _share(text: str) -> float:
    value = _number(float, text, float("nan"))
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _classes(text: str) -> list[str]:
    from gtconsensus.adapters.pre_annotation import class_names

    try:
        names = class_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not names:
        raise argparse.ArgumentTypeError(f"names no class, got {text!r}")
    return names


def _fraction(text: str) -> float:
    value = _number(float, text, float("nan"))
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _add_label_attribute(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label-attribute",
        metavar="ATTR",
        help="the key holding the consolidated value (default: inferred per line)",
    )


def _add_adjustment_parser(formats: Any) -> None:
    adjustment = formats.add_parser(
        "adjustment",
        help="an input manifest sending doubtful images to an adjustment job",
        description="Write an input manifest for a Ground Truth adjustment job: the chosen\n"
        "lines' images, each with the consensus as the starting point.",
        epilog=_ADJUSTMENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adjustment.add_argument("manifest", metavar="OUTPUT", help="consolidated output manifest")
    adjustment.add_argument(
        "-o", "--output", required=True, metavar="FILE.manifest", help="the input manifest written"
    )
    adjustment.add_argument(
        "--below", type=_fraction, metavar="C", help="choose images whose confidence is below C"
    )
    adjustment.add_argument(
        "--min-workers",
        type=_positive,
        metavar="N",
        help="choose images with fewer than N consolidated answers",
    )
    adjustment.add_argument(
        "--disagreement",
        type=_share,
        metavar="D",
        help="choose images whose disagreement is at least D (0 < D <= 1): the share of "
        "(worker, instance) decisions that depart from the consensus, (missed + extra) / "
        "(drawn + missed + extra)",
    )
    adjustment.add_argument(
        "--rejected", action="store_true", help="choose images with rejected answers"
    )
    adjustment.add_argument(
        "--images-out",
        metavar="DIR_OR_S3_PREFIX",
        help="where the consensus PNGs go (default: FILE-png/ beside the manifest); "
        "s3:// needs the `aws` extra",
    )
    adjustment.add_argument(
        "--images-url",
        metavar="S3_PREFIX",
        help="the prefix the manifest names the PNGs by, when --images-out is a local "
        "folder you will upload there (default: --images-out)",
    )
    _add_label_attribute(adjustment)
    _add_pseudonymize(adjustment)
    adjustment.set_defaults(handler=_pseudonymized(_export_adjustment))


def _add_masks_parser(formats: Any) -> None:
    masks = formats.add_parser(
        "masks",
        help="class PNGs and a manifest shaped like built-in semantic segmentation",
        description="Write one class PNG per image, the instance PNGs, a class map and an\n"
        "output manifest in the shape of Ground Truth's built-in semantic segmentation.",
        epilog=_MASKS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    masks.add_argument("manifest", metavar="OUTPUT", help="consolidated output manifest")
    masks.add_argument(
        "-o", "--output", required=True, metavar="DEST", help="a folder or an s3:// prefix"
    )
    masks.add_argument(
        "--classes",
        type=_classes,
        metavar="NAMES",
        help="the classes in index order, comma-separated or a JSON list (default: "
        "the consensus's classes, sorted)",
    )
    masks.add_argument(
        "--attribute",
        metavar="NAME",
        help="write NAME-ref and NAME-ref-metadata (default: each line's label attribute)",
    )
    _add_label_attribute(masks)
    _add_pseudonymize(masks)
    masks.set_defaults(handler=_pseudonymized(_export_masks))


def add_parsers(commands: Any) -> None:
    """Register ``render``, ``report`` and ``export ...`` on ``commands`` (subparsers)."""
    raw = argparse.RawDescriptionHelpFormatter
    render = commands.add_parser(
        "render",
        help="draw the consensus and each worker's answer of one line as a PNG",
        description="Draw one line of a consolidated output manifest: the consensus and every\n"
        "worker's answer side by side, on the source image when it can be found.",
        epilog=_RENDER_EPILOG,
        formatter_class=raw,
    )
    render.add_argument("manifest", metavar="OUTPUT", help="consolidated output manifest")
    render.add_argument(
        "--line", type=_positive, required=True, metavar="N", help="1-based line number in OUTPUT"
    )
    render.add_argument(
        "-o", "--output", required=True, metavar="FILE.png", help="where to write the PNG"
    )
    render.add_argument(
        "--panel-width",
        type=int,
        default=360,
        metavar="PX",
        help="width of each panel, 32 to 4096 (default: %(default)s)",
    )
    render.add_argument(
        "--columns",
        type=_positive,
        metavar="N",
        help="panels per row (default: about the square root of their number)",
    )
    _add_source_options(render)
    _add_pseudonymize(render)
    render.set_defaults(handler=_pseudonymized(_render))

    report = commands.add_parser(
        "report",
        help="write a self-contained HTML report of a consolidated job",
        description="Write one HTML file (no network needed to open it) about a consolidated\n"
        "output manifest: summary, workers, charts, contested images.",
        epilog=_REPORT_EPILOG,
        formatter_class=raw,
    )
    report.add_argument("manifest", metavar="OUTPUT", help="consolidated output manifest")
    report.add_argument(
        "-o", "--output", required=True, metavar="FILE.html", help="where to write the report"
    )
    report.add_argument(
        "--workers",
        metavar="FILE.csv",
        help="the job's worker table from `consolidate --workers` (default: "
        "summed from the per-line scores)",
    )
    report.add_argument(
        "--gallery",
        type=_count,
        default=6,
        metavar="N",
        help="overlays of the N least-agreed images (default: %(default)s)",
    )
    _add_source_options(report)
    _add_pseudonymize(report)
    report.set_defaults(handler=_pseudonymized(_report))

    export = commands.add_parser(
        "export",
        help="export the consensus to another format (coco, adjustment, masks)",
        description="Export the consensus of an output manifest to another format.",
    )
    formats = export.add_subparsers(dest="format", metavar="FORMAT", required=True)
    coco = formats.add_parser(
        "coco",
        help="COCO instance annotations (RLE masks, score = confidence)",
        description="Write the consensus instances as COCO instance annotations (JSON).",
        epilog=_COCO_EPILOG,
        formatter_class=raw,
    )
    coco.add_argument("manifest", metavar="OUTPUT", help="consolidated output manifest")
    coco.add_argument(
        "-o", "--output", required=True, metavar="FILE.json", help="where to write the COCO JSON"
    )
    coco.add_argument(
        "--label-attribute",
        metavar="ATTR",
        help="the key holding the consolidated value (default: inferred per line)",
    )
    _add_pseudonymize(coco)
    coco.set_defaults(handler=_pseudonymized(_export_coco))
    _add_adjustment_parser(formats)
    _add_masks_parser(formats)
