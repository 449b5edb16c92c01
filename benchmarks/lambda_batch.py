"""The post-annotation Lambda on the worst realistic batch: 1,000 objects, 1920x1080, 5 workers.

A program, not a test. It starts moto's S3 in server mode on 127.0.0.1 (no AWS is
reached), writes a payload of simulated answers (``gtconsensus.testing.synthetic``;
``--distinct`` different images, cycled, to keep generation short), runs
``consolidate_event`` with the default settings, then follows every reference of the
response and checks that each object's raw answers come back unchanged. It prints
the invocation's log line figures and the command that reproduces them.

Usage::

    python benchmarks/lambda_batch.py [--objects 1000] [--workers 5] [--width 1920]
        [--height 1080] [--distinct 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any

import boto3
import numpy as np
from moto.server import ThreadedMotoServer

from gtconsensus.testing.synthetic import (
    DEFAULT_POOL,
    make_scene,
    simulate_worker,
    worker_answer,
)

BUCKET = "gtconsensus-benchmark"
ATTR = "street-people"
_CHILD = """
import json, resource, sys
from gtconsensus.adapters.aws_lambda import Settings, consolidate_event
logs = []
response = consolidate_event(json.load(sys.stdin), settings=Settings(), log=logs.append)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([response, logs[0], peak]))
"""


def _answers(seed: int, workers: int, height: int, width: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    truth = make_scene(rng, height=height, width=width, n_instances=int(rng.integers(0, 11)))
    raws = []
    for profile in DEFAULT_POOL[:workers]:
        drawn = simulate_worker(
            rng, truth.labels, truth.classes, boundary_noise=profile.boundary_noise,
            miss_rate=profile.miss_rate, spurious_rate=profile.spurious_rate,
            class_confusion=profile.class_confusion,
        )  # fmt: skip
        content = json.dumps(worker_answer(drawn.labels, drawn.classes), separators=(",", ":"))
        raws.append({"workerId": profile.worker_id, "annotationData": {"content": content}})
    return raws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--distinct", type=int, default=40)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark", "AWS_DEFAULT_REGION": "us-east-1",
    })  # fmt: skip
    from gtconsensus.adapters.s3 import S3Store
    from gtconsensus.references import resolve_references

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    images = [
        _answers(seed, args.workers, args.height, args.width) for seed in range(args.distinct)
    ]
    payload = [
        {"datasetObjectId": str(i),
         "dataObject": {"s3Uri": f"s3://{BUCKET}/images/{i:05d}.jpg"},
         "annotations": images[i % args.distinct]}
        for i in range(args.objects)
    ]  # fmt: skip
    body = json.dumps(payload).encode()
    key = f"{ATTR}/annotations/consolidated-annotation/consolidation-request/iteration-1/batch.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    payload_bytes = len(body)
    generated = time.perf_counter() - started
    event = {
        "version": "2018-10-16", "labelAttributeName": ATTR,
        "labelingJobArn": f"arn:aws:sagemaker:us-east-1:111122223333:labeling-job/{ATTR}",
        "payload": {"s3Uri": f"s3://{BUCKET}/{key}"},
        "outputConfig": f"s3://{BUCKET}/{ATTR}/annotations",
    }  # fmt: skip
    del images, body  # the invocation runs in a child process, as in a fresh container
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD], input=json.dumps(event), capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    response, record, peak = json.loads(child.stdout)

    store = S3Store(boto3.client("s3"))
    started = time.perf_counter()
    recovered = 0
    for entry, sent in zip(response, payload, strict=True):
        value = entry["consolidatedAnnotation"]["content"][ATTR]
        full = resolve_references(value, attribute=ATTR, fetch=store.fetch)
        recovered += full["annotationsFromAllWorkers"] == sent["annotations"]
    followed = time.perf_counter() - started
    server.stop()

    returned = len(json.dumps(response).encode())
    print(
        f"`python benchmarks/lambda_batch.py --objects {args.objects} --workers {args.workers} "
        f"--width {args.width} --height {args.height} --distinct {args.distinct}`: Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}\n"
    )
    rows = [
        ("payload", f"{payload_bytes / 1e6:.1f} MB, {args.objects} x {args.workers} answers"),
        ("generation (not part of the Lambda)", f"{generated:.1f} s"),
        ("method", record["method"]),
        ("consolidated / failed", f"{record['consolidated']} / {record['failed']}"),
        ("invocation (child process, start-up included)", f"{elapsed:.1f} s, CPU {cpu:.1f} s"),
        ("per object", f"{record['timings']['totalMs'] / args.objects:.0f} ms"),
        ("timings (log line)", ", ".join(f"{k} {v:,.0f}" for k, v in record["timings"].items())),
        ("response", f"{returned:,} bytes (limit 6,291,456)"),
        ("raw answers / values in S3", f"{record['rawAnswersInS3']} / {record['valuesInS3']}"),
        ("written to S3", f"{record['bytesWrittenToS3'] / 1e6:.1f} MB"),
        ("raw answers back unchanged", f"{recovered} / {args.objects} ({followed:.1f} s)"),
        ("max RSS of the invocation's process", f"{peak:.0f} MB"),
    ]  # fmt: skip
    print("| what | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
