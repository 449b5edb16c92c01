"""The job report: one self-contained HTML file about a consolidated job.

:func:`build_report` reads an output manifest and writes a page that needs no
network to open: inline CSS, a few lines of inline JavaScript (the worker table
sorts on a click on any column), inline SVG charts and base64 PNG overlays.
It shows the job's summary (objects, workers, instances, failures), the worker
table, worker precision against recall coloured by boundary quality, boundary
quality per worker, the distribution of instance confidence, the failed lines,
and a gallery of the least-agreed images with their overlays.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from gtconsensus._version import __version__
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import GtConsensusError, OptionsError, SchemaError, excerpt
from gtconsensus.review.charts import bars_svg, histogram_svg, quality_colour, scatter_svg
from gtconsensus.review.outputs import (
    CONSOLIDATE_FIRST,
    OutputObject,
    iter_output_objects,
    parse_output_line,
)

__all__ = ["WORKER_COLUMNS", "JobStats", "build_report", "job_stats", "read_worker_table"]

#: Worker-table columns shown, in order (those of ``--workers``, when present).
WORKER_COLUMNS = (
    "worker_id",
    "score",
    "reliability",
    "objects",
    "instances",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "mean_iou",
    "class_accuracy",
    "pq",
)


@dataclass
class _Tally:
    objects: int = 0
    compared: int = 0
    instances: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0
    class_agreed: int = 0

    def row(self, worker_id: str) -> dict[str, Any]:
        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 4) if b else None

        denominator = self.tp + self.fp / 2 + self.fn / 2
        score = (
            (round(self.iou_sum / denominator, 4) if denominator else 1.0)
            if self.compared
            else None
        )
        return {
            "worker_id": worker_id,
            "score": score,
            "reliability": None,
            "objects": self.objects,
            "instances": self.instances,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": ratio(self.tp, self.tp + self.fp) if self.compared else None,
            "recall": ratio(self.tp, self.tp + self.fn) if self.compared else None,
            "mean_iou": ratio(self.iou_sum, self.tp),
            "class_accuracy": ratio(self.class_agreed, self.tp),
            "pq": None,
        }


@dataclass
class JobStats:
    """What the report summarises, gathered in one pass over the manifest."""

    lines: int = 0
    failed: list[tuple[int, str | None, str, str]] = field(default_factory=list)
    instances: int = 0
    confidences: list[float] = field(default_factory=list)
    images: list[tuple[float, int]] = field(default_factory=list)  # (confidence, line)
    tallies: dict[str, _Tally] = field(default_factory=dict)
    rejected_answers: int = 0

    def worker_rows(self) -> list[dict[str, Any]]:
        """Worker-table rows computed from the per-line scores, by worker id."""
        return [self.tallies[w].row(w) for w in sorted(self.tallies)]


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def job_stats(objects: Iterable[OutputObject]) -> JobStats:
    """Sum the per-line consensus of every object (no PNG but the consensus is decoded)."""
    stats = JobStats()
    for obj in objects:
        stats.lines += 1
        rejected = obj.summary.get("rejected")
        stats.rejected_answers += len(rejected) if isinstance(rejected, list) else 0
        if obj.error is not None:
            stats.failed.append((obj.line, obj.source_ref, *obj.error))
            continue
        stats.instances += len(obj.instances)
        stats.confidences += [i.confidence for i in obj.instances if i.confidence is not None]
        if obj.confidence is not None:
            stats.images.append((obj.confidence, obj.line))
        for worker_id, entry in obj.workers.items():
            tally = stats.tallies.setdefault(worker_id, _Tally())
            tally.objects += 1
            tally.instances += int(_number(entry.get("instances")))
            if entry.get("score") is None:
                continue
            tally.compared += 1
            tp = int(_number(entry.get("tp")))
            tally.tp += tp
            tally.fp += int(_number(entry.get("fp")))
            tally.fn += int(_number(entry.get("fn")))
            tally.iou_sum += _number(entry.get("meanIou")) * tp
            tally.class_agreed += int(_number(entry.get("classAgreed")))
    return stats


def _cell_value(text: str) -> int | float | str:
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


def read_worker_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a worker table written by ``gtconsensus consolidate --workers FILE.csv``.

    Raises
    ------
    OptionsError
        ``bad_option`` when the file is not such a table: not UTF-8, no
        ``worker_id`` column, or a row with more fields than the header.
    """

    def refuse(reason: str) -> OptionsError:
        message = f"worker table {str(path)!r} is not one from `consolidate --workers`: {reason}"
        return OptionsError("bad_option", message)

    rows = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if "worker_id" not in (reader.fieldnames or ()):
                raise refuse(f"no `worker_id` column; columns: {excerpt(reader.fieldnames)}")
            for record in reader:
                if None in record:
                    fields = len(record) - 1 + len(record[None])
                    header = len(reader.fieldnames or ())
                    raise refuse(f"line {reader.line_num} has {fields} fields, the header {header}")
                rows.append({
                    key: (text or None) if key == "worker_id" or not text else _cell_value(text)
                    for key, text in record.items()
                })  # fmt: skip
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return rows


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1b1b;
background:#fafaf8}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:6px 0 2px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#666;font-size:12px}
.callouts{margin:12px 0 0;padding-left:18px}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-width:100%}
th,td{border:1px solid #e2e2e2;padding:3px 6px;text-align:right;white-space:nowrap;font-size:13px}
th{background:#f0f0ee;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td:first-child,th:first-child{text-align:left}
.swatch{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
figure{margin:0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px}
figcaption{font-size:12px;color:#555;max-width:420px}
svg .plot{fill:#fff;stroke:#bbb}svg .grid{stroke:#eee}svg .tick{font-size:11px;fill:#555}
svg .axis{font-size:12px;fill:#333}svg .label{font-size:11px;fill:#333}
svg .point{stroke:#333;stroke-width:1}svg .bar{fill:#4c78a8}
.gallery{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.gallery img{max-width:100%;height:auto;display:block}
.failed td{text-align:left;white-space:normal}
"""

_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        if (x === "" && y !== "") { return 1; }
        if (y === "" && x !== "") { return -1; }
        return ascending ? cmp : -cmp;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _cell(column: str, value: Any) -> str:
    if value is None:
        return '<td data-value="">-</td>'
    if column == "worker_id":
        return f'<td data-value="{escape(str(value))}">{escape(str(value))}</td>'
    text = f"{value:.3f}" if isinstance(value, float) else escape(str(value))
    swatch = ""
    if column == "score":
        swatch = f'<span class="swatch" style="background:{quality_colour(float(value))}"></span>'
    return f'<td data-value="{escape(str(value))}">{swatch}{text}</td>'


def _worker_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = [
        c for c in WORKER_COLUMNS if any(r.get(c) is not None for r in rows) or c == "worker_id"
    ]
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, row.get(c)) for c in columns) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table id="workers" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _card(value: object, label: str) -> str:
    return f'<div class="card"><b>{escape(str(value))}</b><span>{escape(label)}</span></div>'


def _overlay_png(
    obj: OutputObject, image_root: str | Path | None, fetch: Fetch | None, image_fetch: Any
) -> str | None:
    from gtconsensus.review.render import load_source_image, render_overlay

    image = load_source_image(obj.source_ref, image_root=image_root, fetch=image_fetch)
    try:
        picture = render_overlay(obj, image=image, panel_width=250, fetch=fetch)
    except GtConsensusError:
        return None
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _read_lines(
    manifest: str | Path,
    wanted: Container[int],
    *,
    label_attribute: str | None,
    fetch: Fetch | None,
) -> Iterator[OutputObject]:
    """The lines ``wanted``, decoded; the others are not even parsed."""
    with open(manifest, "rb") as lines:  # a line that is not UTF-8 fails alone
        for number, text in enumerate(lines, start=1):
            if number in wanted:
                yield parse_output_line(
                    text, number=number, label_attribute=label_attribute, fetch=fetch
                )


def _gallery(
    manifest: str | Path,
    stats: JobStats,
    count: int,
    *,
    label_attribute: str | None,
    image_root: str | Path | None,
    fetch: Fetch | None,
    image_fetch: Any,
) -> str:
    worst = sorted(stats.images)[:count]
    wanted = {line: confidence for confidence, line in worst}
    figures: dict[int, str] = {}
    for obj in _read_lines(manifest, wanted, label_attribute=label_attribute, fetch=fetch):
        png = _overlay_png(obj, image_root, fetch, image_fetch)
        caption = (
            f"line {obj.line} · {escape(obj.source_ref or '')} · image confidence "
            f"{wanted[obj.line]:.2f} · {len(obj.instances)} instances"
        )
        img = (
            f'<img alt="overlay of line {obj.line}" src="data:image/png;base64,{png}">'
            if png
            else "<p>(overlay unavailable: the raw answers cannot be read)</p>"
        )
        figures[obj.line] = (
            f'<figure id="line-{obj.line}">{img}<figcaption>{caption}</figcaption></figure>'
        )
    return "".join(figures[line] for _, line in worst if line in figures)


def build_report(
    manifest: str | Path,
    *,
    workers_csv: str | Path | None = None,
    gallery: int = 6,
    label_attribute: str | None = None,
    image_root: str | Path | None = None,
    fetch: Fetch | None = None,
    image_fetch: Any = None,
    title: str | None = None,
) -> str:
    """The HTML report of a consolidated output manifest.

    Parameters
    ----------
    manifest : path
        Output manifest written by ``gtconsensus consolidate`` (or the Lambda).
    workers_csv : path, optional
        The job's worker table (``--workers``); by default the table is summed
        from the per-line scores of the manifest (no ``reliability``, no ``pq``).
    gallery : int, default 6
        How many of the least-agreed images to draw (lowest image confidence).
    image_root : path, optional
        Folder where the source images are (see
        :func:`~gtconsensus.review.render.load_source_image`).
    fetch, image_fetch : callable, optional
        Read answers and source images from ``s3://`` URIs.

    Returns
    -------
    str
        The page, to be written as UTF-8.

    Raises
    ------
    SchemaError
        ``missing_consensus`` when no line holds a consensus (the job's own
        manifest, not consolidated yet).
    OptionsError
        ``bad_option`` when ``workers_csv`` is not a worker table.
    """
    objects = iter_output_objects(
        manifest, label_attribute=label_attribute, fetch=fetch, decode=False
    )
    stats = job_stats(objects)
    codes = {code for _, _, code, _ in stats.failed}
    if stats.lines and len(stats.failed) == stats.lines and codes == {"missing_consensus"}:
        raise SchemaError("missing_consensus", f"no line holds a consensus: {CONSOLIDATE_FIRST}")
    rows = read_worker_table(workers_csv) if workers_csv else stats.worker_rows()
    scored = [r for r in rows if r.get("score") is not None]
    worst_worker = min(scored, key=lambda r: (r["score"], r["worker_id"])) if scored else None
    contested = min(stats.images) if stats.images else None
    cards = "".join(
        [
            _card(stats.lines, "objects (lines)"),
            _card(stats.lines - len(stats.failed), "consolidated"),
            _card(len(stats.failed), "failed"),
            _card(len(rows), "workers"),
            _card(stats.instances, "consensus instances"),
            _card(stats.rejected_answers, "answers rejected"),
        ]
    )
    callouts = []
    if worst_worker:
        callouts.append(
            f"Lowest-scoring worker: <b>{escape(str(worst_worker['worker_id']))}</b> "
            f"(score {worst_worker['score']:.3f})"
        )
    if contested:
        callouts.append(
            f'Most contested image: <a href="#line-{contested[1]}">line {contested[1]}'
            f"</a> (image confidence {contested[0]:.3f})"
        )
    points = [
        (
            str(r["worker_id"]),
            float(r["precision"]),
            float(r["recall"]),
            None if r.get("mean_iou") is None else float(r["mean_iou"]),
        )
        for r in rows
        if r.get("precision") is not None and r.get("recall") is not None
    ]
    by_quality = sorted(rows, key=lambda r: (r.get("mean_iou") is None, -(r.get("mean_iou") or 0)))
    bars = [(str(r["worker_id"]), r.get("mean_iou")) for r in by_quality]
    figures = "".join(
        f"<figure>{svg}<figcaption>{escape(text)}</figcaption></figure>"
        for svg, text in [
            (
                scatter_svg(points, title="worker precision against recall"),
                "Precision against recall of each worker against the consensus of the others; "
                "colour: boundary quality (mean IoU of matched instances), red 0.5, green 1.0.",
            ),
            (
                bars_svg(
                    bars, title="boundary quality per worker", value_label="mean IoU of matches"
                ),
                "Boundary quality: mean IoU of each worker's matched instances.",
            ),
            (
                histogram_svg(stats.confidences, title="instance confidence"),
                f"Confidence of the {len(stats.confidences)} consensus instances "
                "(support share x mean IoU).",
            ),
        ]
    )
    gallery_html = _gallery(
        manifest,
        stats,
        gallery,
        label_attribute=label_attribute,
        image_root=image_root,
        fetch=fetch,
        image_fetch=image_fetch,
    )
    failed = "".join(
        f"<tr><td>{line}</td><td>{escape(source or '')}</td><td>{escape(code)}</td>"
        f"<td>{escape(message[:300])}</td></tr>"
        for line, source, code, message in stats.failed
    )
    failed_html = (
        f'<table class="failed"><thead><tr><th>line</th><th>source-ref</th><th>code</th>'
        f"<th>message</th></tr></thead><tbody>{failed}</tbody></table>"
        if failed
        else "<p>No line failed.</p>"
    )
    name = title or f"gtconsensus report: {Path(manifest).name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(name)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{escape(name)}</h1>
<p class="sub">gtconsensus {escape(__version__)} · {escape(str(manifest))}</p>
<section id="summary"><div class="cards">{cards}</div>
<ul class="callouts">{"".join(f"<li>{c}</li>" for c in callouts)}</ul></section>
<h2>Workers</h2>
<p class="sub">Click a column to sort. score: Panoptic Quality against the consensus of the
other workers; precision, recall and mean IoU from the same comparison.</p>
{_worker_table(rows)}
<h2>Charts</h2><div class="charts">{figures}</div>
<h2>Least-agreed images</h2>
<p class="sub">Lowest image confidence first. Each overlay shows the consensus, then every
worker; an instance keeps its colour across panels, white is a worker's instance that is
not in the consensus, magenta marks disagreement.</p>
<div class="gallery">{gallery_html or "<p>No consolidated image.</p>"}</div>
<h2>Failed lines</h2>{failed_html}
</main><script>{_JS}</script></body></html>
"""
