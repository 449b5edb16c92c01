"""The test clusters start beside another suite's (``tests/clusters.py``)."""

from __future__ import annotations

import contextlib
import socket

import pytest

pytest.importorskip("distributed")

from clusters import local_cluster


def test_a_cluster_starts_while_another_holds_the_default_http_port() -> None:
    # Distributed's scheduler serves HTTP on 8787 unless told otherwise (even with no
    # dashboard); when another suite's cluster holds it, the warning that it moves is an
    # error under filterwarnings=error, and the cluster "failed to start".
    with contextlib.ExitStack() as stack:
        holder = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # already held (by another suite): as good
            holder.bind(("127.0.0.1", 8787))
            holder.listen()
        with local_cluster(n_workers=1, processes=False) as cluster:
            assert len(cluster.workers) == 1
