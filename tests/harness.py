"""Running gtconsensus in the tests: a fresh interpreter, a run interrupted half-way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gtconsensus

__all__ = ["finish_line_interrupted_at", "json_from_fresh_interpreter"]


def json_from_fresh_interpreter(code: str) -> Any:
    """The JSON ``code`` prints in a fresh interpreter that imports this source tree."""
    source_root = str(Path(gtconsensus.__file__).resolve().parent.parent)
    paths = [source_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
        timeout=60,
    )  # fmt: skip
    return json.loads(done.stdout)


def finish_line_interrupted_at(call: int) -> Callable[..., Any]:
    """The manifest adapter's ``finish_line``, raising ``KeyboardInterrupt`` on call ``call``.

    Patch it in (``monkeypatch.setattr(adapter, "finish_line", ...)``) to stop an
    in-process run as Ctrl-C would, after ``call - 1`` lines were finished.
    """
    import gtconsensus.adapters.manifest as adapter

    real = adapter.finish_line
    calls = 0

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return interrupted
