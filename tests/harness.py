"""Running gtconsensus in the tests: a fresh interpreter, a run interrupted half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gtconsensus

__all__ = ["finish_line_interrupted_at", "json_from_fresh_interpreter", "kill_past_line"]


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


def kill_past_line(command: list[str], env: Mapping[str, str], checkpoint: Path, line: int) -> None:
    """Run ``command`` and kill it (SIGKILL) once ``checkpoint`` is past line ``line``
    (an input line, or a merged line with several inputs).

    Fails when the run ends before that: there was nothing left to resume.
    """
    process = subprocess.Popen(
        command, env=dict(env), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text() or "{}").get("line", 0) > line:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
