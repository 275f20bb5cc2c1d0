"""Benchmark: ``manifestkit.stage`` uploading 5,000 small images, parallel vs sequential, in one run.

Target: the parallel upload (default worker count) is at least 4x faster than a sequential one
(``workers=1``) of the same files, each into an empty bucket of its own.

The S3 endpoint is moto's server on 127.0.0.1, run in a separate process so that server and client do
not share one interpreter lock. A loopback server answers in microseconds, which a real S3 never does:
the median latency of small S3 requests is "in the range of tens of milliseconds" (AWS, "Optimizing
Amazon S3 performance", timeouts and retries). The server therefore waits ``--latency`` ms (default 30)
before answering each request; that wait is what parallel uploads overlap in real use. With
``--latency 0`` both runs are bound by the CPU of the machine (client and moto alike), which measures
moto rather than staging; the 4x target is meant for the default latency.

Usage: python bench/bench_stage.py [--files 5000] [--latency 30] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
GENERATORS = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "bench"))
TARGET = 4.0


def serve(latency_ms: float) -> None:
    """Child process: moto's S3 app behind a fixed per-request delay; prints the port, serves forever."""
    import logging

    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    delay = latency_ms / 1000.0

    def delayed(environ, start_response):  # type: ignore[no-untyped-def]
        if delay:
            time.sleep(delay)
        return app(environ, start_response)

    class KeepAlive(MotoRequestHandler):
        # Real S3 keeps connections open; werkzeug's HTTP/1.0 default would add a TCP connect and a
        # server thread to every request, a cost no real upload pays.
        protocol_version = "HTTP/1.1"

    server = make_server("127.0.0.1", 0, delayed, threaded=True, request_handler=KeepAlive)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def make_images(out: str, n: int) -> list[str]:
    """Generate ``n`` small images with the shared generator; return their paths relative to ``out``."""
    subprocess.run([sys.executable, os.path.join(GENERATORS, "gen_folders.py"), "--images", str(n), "--out", out,
                    "--max-size", "200", "--no-clutter", "--nested", "0.05"], check=True,
                   stdout=subprocess.DEVNULL)
    rels = []
    for folder, _, files in os.walk(out):
        for name in files:
            rels.append(os.path.relpath(os.path.join(folder, name), out).replace(os.sep, "/"))
    return sorted(rels)


def write_manifest(path: str, bucket: str, rels: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as fp:
        for rel in rels:
            fp.write(json.dumps({"source-ref": f"s3://{bucket}/ds/{rel}", "label": 0}, ensure_ascii=False) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--latency", type=float, default=30.0, help="server delay per request, ms")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: the library's)")
    p.add_argument("--serve", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0

    import boto3
    from botocore.config import Config

    from manifestkit.staging import DEFAULT_WORKERS, stage

    workers = args.workers or DEFAULT_WORKERS
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        endpoint = f"http://127.0.0.1:{port}"
        # The same client settings as manifestkit.aws.make_clients.
        s3 = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1").client(
            "s3", endpoint_url=endpoint, config=Config(retries={"mode": "standard", "max_attempts": 8},
                                                       max_pool_connections=64))
        with tempfile.TemporaryDirectory(prefix="mk-bench-stage-") as tmp:
            images = os.path.join(tmp, "images")
            t = time.perf_counter()
            rels = make_images(images, args.files)
            nbytes = sum(os.path.getsize(os.path.join(images, r)) for r in rels)
            print(f"generated {len(rels)} images, {nbytes / 1e6:.1f} MB, in {time.perf_counter() - t:.1f} s; "
                  f"server latency {args.latency:g} ms per request; {os.cpu_count()} CPUs")

            def timed(bucket: str, n_workers: int) -> tuple[float, int, int]:
                manifest = os.path.join(tmp, f"{bucket}.manifest")
                write_manifest(manifest, bucket, rels)
                t0 = time.perf_counter()
                r = stage([manifest], images, s3=s3, s3_prefix=f"s3://{bucket}/ds/", workers=n_workers,
                          region="us-east-1")
                dt = time.perf_counter() - t0
                if not r.ok:
                    raise SystemExit(f"staging failed: {r.failed[:3]}")
                return dt, r.uploaded, r.skipped

            for b in ("bench-parallel", "bench-sequential"):
                s3.create_bucket(Bucket=b)
            par, up_p, _ = timed("bench-parallel", workers)
            print(f"parallel   ({workers:>2} workers): {par:7.2f} s  {up_p / par:7.0f} files/s  "
                  f"{nbytes / par / 1e6:6.2f} MB/s  uploaded {up_p}")
            seq, up_s, _ = timed("bench-sequential", 1)
            print(f"sequential ( 1 worker ): {seq:7.2f} s  {up_s / seq:7.0f} files/s  "
                  f"{nbytes / seq / 1e6:6.2f} MB/s  uploaded {up_s}")
            again, up_r, skipped = timed("bench-parallel", workers)
            print(f"re-run, all unchanged  : {again:7.2f} s  {skipped / again:7.0f} files/s  "
                  f"skipped {skipped}, uploaded {up_r}")
            for b in ("bench-parallel", "bench-sequential"):
                count = sum(page.get("KeyCount", 0)
                            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix="ds/"))
                if count != len(rels) + 1:
                    print(f"FAIL: s3://{b}/ds/ holds {count} objects, expected {len(rels) + 1}")
                    return 1
    finally:
        server.terminate()
        server.wait()
    speedup = seq / par
    ok = speedup >= TARGET and up_p == up_s == len(rels) and skipped == len(rels)
    print(f"speedup {speedup:.1f}x (target >= {TARGET:g}x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
