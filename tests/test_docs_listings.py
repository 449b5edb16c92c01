"""The docs' listings follow the code: every module in the architecture, every setting."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gtconsensus"


def _layers() -> str:
    """The fenced listing under "Layers" in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1]
    return section.split("```", 2)[1]


def test_architecture_lists_every_module_once() -> None:
    listing = _layers()
    modules = [
        m for m in PACKAGE.rglob("*.py") if not (m.name == "__init__.py" and m.parent != PACKAGE)
    ]
    assert len(modules) > 50
    expected: dict[str, int] = {}
    for module in modules:  # a name two folders share (cli.py) is listed twice
        expected[module.name] = expected.get(module.name, 0) + 1
    named = {name: len(re.findall(rf"(?<![\w.]){re.escape(name)}\b", listing)) for name in expected}
    wrong = {name: (named[name], count) for name, count in expected.items() if named[name] != count}
    assert not wrong, f"docs/architecture.md: module: (times named, modules of that name) {wrong}"


def test_lambda_settings_table_lists_every_variable_with_its_default() -> None:
    from gtconsensus.adapters.lambda_settings import Settings

    page = (ROOT / "docs" / "lambda.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(GTCONSENSUS_[A-Z0-9_]+)` \| ([^|]+) \|", page, re.M))
    read = set()
    for source in ("lambda_settings.py", "pre_annotation.py", "s3.py", "aws_lambda.py"):
        text = (PACKAGE / "adapters" / source).read_text(encoding="utf-8")
        read |= set(re.findall(r"[\"'](GTCONSENSUS_[A-Z0-9_]+)[\"']", text))
    assert read, "no GTCONSENSUS_ variable found in the adapters"
    assert not read - set(rows), f"docs/lambda.md's tables miss {sorted(read - set(rows))}"
    defaults = Settings()
    expected = {
        "GTCONSENSUS_RESPONSE_BUDGET": defaults.response_budget,
        "GTCONSENSUS_BATCH_MIN_OBJECTS": defaults.min_median_objects,
        "GTCONSENSUS_IOU_THRESHOLD": defaults.iou_threshold,
        "GTCONSENSUS_MAX_PIXELS": defaults.max_pixels,
        "GTCONSENSUS_TIME_MARGIN_S": defaults.time_margin,
        "GTCONSENSUS_THREADS": defaults.threads,
        "GTCONSENSUS_MIN_AREA": defaults.min_area,
        "GTCONSENSUS_ASSUME_ROLE": int(defaults.assume_role),
        "GTCONSENSUS_CLASS_AWARE": int(defaults.class_aware),
    }
    for name, value in expected.items():
        shown = rows[name].strip().strip("`")
        assert float(shown) == float(value), f"{name}: docs say {shown}, the code {value}"
