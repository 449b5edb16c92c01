"""The core imports numpy, Pillow and pydantic only (the Lambda size budget depends on it)."""

from __future__ import annotations

from harness import json_from_fresh_interpreter

CORE_MODULES = [
    "gtconsensus",
    "gtconsensus._typing",
    "gtconsensus._version",
    "gtconsensus.adapters",
    "gtconsensus.answers",
    "gtconsensus.consensus",
    "gtconsensus.contract",
    "gtconsensus.evidence",
    "gtconsensus.exceptions",
    "gtconsensus.fusion",
    "gtconsensus.job",
    "gtconsensus.lines",
    "gtconsensus.masks",
    "gtconsensus.matching",
    "gtconsensus.merging",
    "gtconsensus.schema",
    "gtconsensus.scoring",
    "gtconsensus.worker_model",
]
FORBIDDEN = [
    "boto3", "botocore", "scipy", "skimage", "hypothesis", "dask", "distributed", "rich",
    "gtconsensus.cli", "gtconsensus.testing",
]  # fmt: skip


def _modules_after_importing(modules: list[str]) -> set[str]:
    """``sys.modules`` of a fresh interpreter after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    return set(json_from_fresh_interpreter(code))


def _loaded(forbidden: str, modules: set[str]) -> bool:
    return forbidden in modules or any(m.startswith(forbidden + ".") for m in modules)


def test_core_modules_load_no_optional_dependency() -> None:
    modules = _modules_after_importing(CORE_MODULES)
    assert [name for name in FORBIDDEN if _loaded(name, modules)] == []


def test_core_modules_exist_where_the_check_expects_them() -> None:
    modules = _modules_after_importing(CORE_MODULES)
    assert set(CORE_MODULES) <= modules
    assert {"numpy", "PIL", "pydantic"} <= modules


def test_the_check_would_see_an_optional_dependency() -> None:
    modules = _modules_after_importing(["gtconsensus.testing.strategies"])
    assert _loaded("hypothesis", modules)
