"""``import gtconsensus`` is cheap: the pipeline's names are imported on first use (PEP 562)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gtconsensus

HEAVY = ["numpy", "PIL", "pydantic"]


def _run(code: str) -> object:
    """The JSON printed by ``code`` in a fresh interpreter that sees this source tree."""
    source_root = str(Path(gtconsensus.__file__).resolve().parent.parent)
    paths = [source_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
        timeout=60,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_import_gtconsensus_loads_none_of_the_pipeline() -> None:
    loaded = _run(
        "import json, sys, gtconsensus\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_first_use_of_a_name_imports_it() -> None:
    result = _run(
        "import json, sys, gtconsensus\n"
        "f = gtconsensus.consolidate_line\n"
        "print(json.dumps([f.__module__, 'numpy' in sys.modules]))"
    )
    assert result == ["gtconsensus.lines", True]


@pytest.mark.parametrize("name", gtconsensus.__all__)
def test_every_public_name_resolves_to_its_module_object(name: str) -> None:
    value = getattr(gtconsensus, name)
    assert value is not None
    assert name in dir(gtconsensus)


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from gtconsensus import *", namespace)
    assert set(gtconsensus.__all__) <= set(namespace)


def test_submodules_stay_reachable_as_attributes() -> None:
    result = _run(
        "import json, gtconsensus\nprint(json.dumps(gtconsensus.masks.instance_colours(1)))"
    )
    assert result == ["#1f77b4"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gtconsensus.nope  # noqa: B018
