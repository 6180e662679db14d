"""Load test of ``sensekit serve`` on loopback: mixed classify + transcribe requests.

Starts a server on 127.0.0.1 (a free port), warms it up, then sends a bounded number of
requests (default 200) from a fixed number of concurrent clients (default 16): every
``--transcribe-every``-th request transcribes jfk.wav (11 s of speech), the others
classify chelsea.png. Prints latency percentiles per kind, throughput, errors, and the
server's RSS after the warm-up and after the load (it should stay flat). Every answer is
compared with the first answer of its kind: concurrency must not change results.

    python bench/serve.py [--requests 200] [--concurrency 16] [--workers N] [--rounds 1]

Nothing but 127.0.0.1 is contacted; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from sensekit.accelerate import cpu
from sensekit.samples import media_path

LOOPBACK = "127.0.0.1"
STARTUP_S = 300


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def start_server(workers: int | None, queue: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "sensekit.cli",
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--models",
        "classify,transcribe",
        "--queue",
        str(queue),
        "--log-level",
        "warning",
    ]
    if workers:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    base = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()[-2000:]}")


def requests_plan(count: int, transcribe_every: int) -> list[str]:
    return [
        "transcribe" if i % transcribe_every == transcribe_every - 1 else "classify"
        for i in range(count)
    ]


def send(
    client: httpx.Client, kind: str, payloads: dict[str, tuple]
) -> tuple[str, int, float, str]:
    field, name, data, mime = payloads[kind]
    start = time.perf_counter()
    response = client.post(f"/v1/{kind}", files={field: (name, data, mime)})
    return kind, response.status_code, time.perf_counter() - start, response.text


def run_load(base: str, plan: list[str], concurrency: int) -> tuple[list[tuple], float]:
    payloads = {
        "classify": ("image", "chelsea.png", media_path("chelsea.png").read_bytes(), "image/png"),
        "transcribe": ("audio", "jfk.wav", media_path("jfk.wav").read_bytes(), "audio/wav"),
    }
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(base_url=base, timeout=600, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as clients,
    ):
        start = time.perf_counter()
        results = list(clients.map(lambda kind: send(client, kind, payloads), plan))
        return results, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: list[tuple], wall: float) -> int:
    errors = [(kind, status, text[:200]) for kind, status, _, text in results if status != 200]
    first = {}
    changed = 0
    for kind, status, _, text in results:
        if status == 200:
            changed += first.setdefault(kind, text) != text
    print(
        f"{len(results)} requests in {wall:.1f} s: {len(results) / wall:.2f} req/s, "
        f"{len(errors)} errors, {changed} answers that differ from the first of their kind"
    )
    for kind in sorted({r[0] for r in results}):
        latencies = [r[2] for r in results if r[0] == kind and r[1] == 200]
        if latencies:
            print(
                f"  {kind:<10} n={len(latencies):<4} p50 {percentile(latencies, 0.5):6.2f} s  "
                f"p95 {percentile(latencies, 0.95):6.2f} s  "
                f"mean {statistics.mean(latencies):6.2f} s"
            )
    everything = [r[2] for r in results]
    print(
        f"  {'all':<10} n={len(everything):<4} p50 {percentile(everything, 0.5):6.2f} s  "
        f"p95 {percentile(everything, 0.95):6.2f} s"
    )
    for error in errors[:5]:
        print("  error:", error)
    return len(errors) + changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transcribe-every", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None, help="server threads (default: cores)")
    parser.add_argument("--queue", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="load rounds (RSS after each)")
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    log = Path("/tmp/sensekit-bench-serve.log")
    process, base = start_server(args.workers, args.queue, log)
    server = psutil.Process(process.pid)
    try:
        warm, _ = run_load(
            base,
            requests_plan(2 * args.transcribe_every, args.transcribe_every),
            min(4, args.concurrency),
        )
        assert all(r[1] == 200 for r in warm), warm
        rss = [server.memory_info().rss / 2**20]
        print(
            f"server RSS after warm-up: {rss[0]:.0f} MiB "
            f"(workers {httpx.get(base + '/health').json()['workers']})"
        )
        failures = 0
        for round_ in range(args.rounds):
            results, wall = run_load(
                base, requests_plan(args.requests, args.transcribe_every), args.concurrency
            )
            print(f"round {round_ + 1}: concurrency {args.concurrency}")
            failures += report(results, wall)
            rss.append(server.memory_info().rss / 2**20)
            print(f"server RSS: {rss[-1]:.0f} MiB ({rss[-1] - rss[0]:+.0f} MiB since warm-up)")
    finally:
        process.terminate()
        process.wait(timeout=60)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
