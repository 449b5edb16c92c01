"""What ``gtconsensus.testing`` needs: the ``testing`` extra, said plainly when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK_AND_IMPORT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
try:
    import {module}
except ImportError as exc:
    print(exc)
else:
    print("imported")
"""


def _import_without(module: str, blocked: list[str]) -> str:
    code = BLOCK_AND_IMPORT.format(blocked=blocked, module=module)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        ("gtconsensus.testing.strategies", ["hypothesis"]),
        ("gtconsensus.testing.pngs", ["hypothesis"]),
        ("gtconsensus.testing.crowd", ["skimage"]),
    ],
)
def test_a_missing_extra_is_named_with_the_install_command(module: str, blocked: list[str]) -> None:
    message = _import_without(module, blocked)
    assert "pip install 'gtconsensus[testing]'" in message
    assert module in message


def test_synthetic_needs_numpy_and_pillow_only() -> None:
    assert _import_without("gtconsensus.testing.synthetic", ["hypothesis", "skimage", "scipy"]) == (
        "imported"
    )
