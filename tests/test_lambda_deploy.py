"""Deployment: the SAM template passes cfn-lint, the package fits, the worker template renders."""

from __future__ import annotations

import html.parser
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from liquid import Environment

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
LAMBDA_LIMIT = 250 * 1024 * 1024  # unzipped code and layers


def test_sam_template_passes_cfn_lint() -> None:
    matches = lint_file(DEPLOY / "template.yaml")
    assert [str(m) for m in matches] == []


HANDLERS = re.findall(r"Handler: (\S+)", (DEPLOY / "template.yaml").read_text())


@pytest.mark.parametrize("handler", HANDLERS)
def test_template_handlers_exist(handler: str) -> None:
    module, _, name = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_template_function_names_match_the_ground_truth_managed_policy() -> None:
    names = re.findall(r"FunctionName: (.+)", (DEPLOY / "template.yaml").read_text())
    assert len(names) == 2
    assert all("GtRecipe" in name for name in names)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.skipif(shutil.which("bash") is None, reason="deploy/build.sh needs bash")
def test_core_package_stays_well_under_the_lambda_limit(tmp_path: Path) -> None:
    out = tmp_path / "package"
    env = {**os.environ, "PYTHON": sys.executable, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), str(out), "--local"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    top = {p.name.split("-")[0].lower() for p in out.iterdir()}
    assert {"gtconsensus", "numpy", "pil", "pydantic", "pydantic_core", "zlib_ng"} <= top
    assert not top & {"boto3", "botocore", "scipy", "skimage", "hypothesis", "rich", "dask"}
    assert _size(out) < 0.6 * LAMBDA_LIMIT  # about 87 MB in benchmarks/lambda_package.md


class _Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, Any]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.setdefault(tag, dict(attrs))


def _render(task_input: dict[str, Any]) -> dict[str, dict[str, Any]]:
    env = Environment()
    # Ground Truth's own filters: a presigned URL, and JSON
    env.filters["grant_read_access"] = lambda uri: f"https://presigned.example/{uri}"
    env.filters["to_json"] = json.dumps
    page = env.from_string((DEPLOY / "instance-segmentation.liquid.html").read_text())
    parser = _Elements()
    parser.feed(page.render(task={"input": task_input}))
    return parser.found


def test_worker_template_shows_the_image_with_the_given_header_and_labels() -> None:
    found = _render({
        "taskObject": "s3://bucket/images/SSDB00010.JPG",
        "header": 'Outline "people" & riders',
        "labels": ["Person", "Rider"],
    })  # fmt: skip
    assert "crowd-form" in found
    element = found["crowd-instance-segmentation"]
    assert element["name"] == "annotatedResult"
    assert element["src"] == "https://presigned.example/s3://bucket/images/SSDB00010.JPG"
    assert element["header"] == 'Outline "people" & riders'
    assert json.loads(element["labels"]) == ["Person", "Rider"]
    assert {"full-instructions", "short-instructions"} <= set(found)


def test_worker_template_has_defaults_when_the_task_input_has_only_the_image() -> None:
    element = _render({"taskObject": "s3://bucket/1.jpg"})["crowd-instance-segmentation"]
    assert element["header"]
    assert json.loads(element["labels"]) == ["Person", "Car", "Bicycle"]


@pytest.mark.parametrize(
    "module", ["gtconsensus.adapters.aws_lambda", "gtconsensus.adapters.pre_annotation"]
)
def test_lambda_entry_points_load_only_the_core_and_boto3(module: str) -> None:
    heavy = ["scipy", "skimage", "hypothesis", "rich", "dask", "moto", "pandas", "liquid"]
    code = f"import sys, {module}; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _doc_parameter_overrides() -> dict[str, str]:
    """The ``--parameter-overrides`` of docs/lambda.md's ``sam deploy``, as SAM reads them.

    The shell gives SAM one word per ``Key=Value``; SAM's documented format
    (``KeyPairName=MyKey InstanceType=t1.micro``) ends a value at a space or a
    quote unless the whole value is wrapped in quotes, which it strips.
    """
    import shlex

    text = (ROOT / "docs" / "lambda.md").read_text(encoding="utf-8")
    command = re.search(r"^sam deploy .*?(?=^\S)", text, flags=re.M | re.S)
    assert command is not None
    words = shlex.split(command.group(0).replace("\\\n", " "))
    overrides = words[words.index("--parameter-overrides") + 1 :]
    values = {}
    for word in overrides[: next((i for i, w in enumerate(overrides) if w.startswith("-")),
                                 len(overrides))]:  # fmt: skip
        key, _, value = word.partition("=")
        if value[:1] in "'\"" and len(value) > 1 and value[-1] == value[0]:
            value = value[1:-1]
        else:
            assert not re.search(r"[\s'\"]", value), f"SAM cuts {word!r} at a space or quote"
        values[key] = value
    return values


def test_the_documented_sam_deploy_gives_the_parameters_it_means() -> None:
    from gtconsensus.adapters.pre_annotation import labels_setting

    values = _doc_parameter_overrides()
    assert labels_setting(values["TaskLabels"]) == ["Person", "Car", "Bicycle"]
    assert values["TaskHeader"] == "Outline every object"
