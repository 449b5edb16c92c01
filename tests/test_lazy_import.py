"""``import gtconsensus`` is cheap: the pipeline's names are imported on first use (PEP 562)."""

from __future__ import annotations

import pytest

import gtconsensus
from harness import json_from_fresh_interpreter

HEAVY = ["numpy", "PIL", "pydantic"]


def test_import_gtconsensus_loads_none_of_the_pipeline() -> None:
    loaded = json_from_fresh_interpreter(
        "import json, sys, gtconsensus\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_first_use_of_a_name_imports_it() -> None:
    result = json_from_fresh_interpreter(
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
    result = json_from_fresh_interpreter(
        "import json, gtconsensus\nprint(json.dumps(gtconsensus.masks.instance_colours(1)))"
    )
    assert result == ["#1f77b4"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gtconsensus.nope  # noqa: B018
