"""A Dask ``LocalCluster`` of worker processes for the tests, started patiently.

Starting two worker processes means spawning two interpreters that import numpy,
dask and distributed. On a loaded 2-core machine (a CI runner, or other test
suites beside this one) that once took longer than distributed's 30 s connect
timeout, and the module's tests all errored before running. The cluster under
test is the same; only its start is given more time, and one more try.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask
from distributed import LocalCluster

#: distributed's connect and TCP timeouts while the cluster starts (default 30 s).
START_TIMEOUT = "120s"


@contextlib.contextmanager
def local_cluster(**kwargs: Any) -> Iterator[LocalCluster]:
    """Two single-threaded worker processes (``kwargs`` add to or replace these)."""
    options: dict[str, Any] = {
        "n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
    }  # fmt: skip
    options.update(kwargs)
    timeouts = {"distributed.comm.timeouts.connect": START_TIMEOUT,
                "distributed.comm.timeouts.tcp": START_TIMEOUT}  # fmt: skip
    with dask.config.set(timeouts):
        try:
            cluster = LocalCluster(**options)
        except (TimeoutError, OSError, RuntimeError):  # a start that failed: once more
            cluster = LocalCluster(**options)
    with cluster:
        yield cluster
