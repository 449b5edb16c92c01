"""A Dask ``LocalCluster`` of worker processes for the tests, started patiently.

Starting two worker processes means spawning two interpreters that import numpy,
dask and distributed. On a loaded 2-core machine (a CI runner, or other test
suites beside this one) that once took longer than distributed's 30 s connect
timeout, and the module's tests all errored before running; with three test suites
side by side a start also ended as "Cluster closed without starting up", twice in a
row. The cluster under test is the same; only its start is given more time, and up to
:data:`TRIES` tries. Its HTTP server takes a free port, not distributed's 8787, which
another suite's cluster may hold (``tests/test_clusters.py``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import dask
from distributed import LocalCluster

#: distributed's connect and TCP timeouts while the cluster starts (default 30 s).
START_TIMEOUT = "120s"

#: How many times a cluster is started before its failure is the test's.
TRIES = 3


@contextlib.contextmanager
def local_cluster(**kwargs: Any) -> Iterator[LocalCluster]:
    """Two single-threaded worker processes (``kwargs`` add to or replace these)."""
    # The scheduler serves HTTP even without a dashboard, on 8787 unless given a port (None
    # too): beside another suite's cluster its "Port 8787 is already in use" warning is an
    # error here (filterwarnings=error), and the start fails. A free port of loopback.
    options: dict[str, Any] = {
        "n_workers": 2, "threads_per_worker": 1, "processes": True,
        "dashboard_address": "127.0.0.1:0",
    }  # fmt: skip
    options.update(kwargs)
    timeouts = {"distributed.comm.timeouts.connect": START_TIMEOUT,
                "distributed.comm.timeouts.tcp": START_TIMEOUT}  # fmt: skip
    with dask.config.set(timeouts):
        for attempt in range(1, TRIES + 1):
            try:
                cluster = LocalCluster(**options)
                break
            except (TimeoutError, OSError, RuntimeError):  # a start that failed: again
                if attempt == TRIES:
                    raise
                time.sleep(2 * attempt)
    with cluster:
        yield cluster
