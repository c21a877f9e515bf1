"""Load benchmark of the served studio: N users at once, batched against the serial queue.

    python scripts/load_bench.py --users 8 16 24 --seconds 5 [--modes batched serial] [--out load.json]

For each mode the script starts ``python app.py`` on a free loopback port (``--no-batching`` for
the serial queue), sends one warm-up request, then for each user count starts that many threads,
each with its own ``gradio_client.Client``, which all call ``/generate`` at once (a different
example prompt each, ``--seconds`` of audio, random seeds, the app's other defaults). It reports
per user count: requests completed, failures, latency min / median / max, and the server's peak
RSS (``VmRSS`` polled from ``/proc/PID/status`` while the requests run). Prints a markdown
table; ``--out`` also writes JSON. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Polls a process's VmRSS every ``every_s`` in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s, self.peak = pid, every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except OSError:
                return
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def start_server(batched: bool, log_path: str, queue_size: int, max_batch_size=None, timeout_s: float = 300):
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(port), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = [sys.executable, os.path.join(ROOT, "app.py"), "--queue-size", str(queue_size)]
    if not batched:
        args.append("--no-batching")
    elif max_batch_size:
        args += ["--max-batch-size", str(max_batch_size)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}; see {log_path}")
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"app.py did not answer on {url} within {timeout_s:g} s; see {log_path}")


def one_request(url: str, prompt: str, seconds: float, timeout_s: float) -> tuple[bool, float, str]:
    from gradio_client import Client

    client = Client(url, verbose=False)  # one client per user, as separate browsers would be
    start = time.perf_counter()
    try:
        job = client.submit(prompt=prompt, duration_s=seconds, randomise_seed=True, api_name="/generate")
        result = job.result(timeout=timeout_s)
        ok = isinstance(result, (list, tuple)) and str(result[0]).endswith(".wav")
        return ok, time.perf_counter() - start, "" if ok else f"unexpected result {str(result)[:80]}"
    except Exception as error:  # noqa: BLE001 - a failed request is a result of the benchmark
        return False, time.perf_counter() - start, f"{type(error).__name__}: {str(error)[:120]}"


def run_level(url: str, pid: int, users: int, seconds: float, prompts: list[str], timeout_s: float) -> dict:
    with PeakRSS(pid) as peak, ThreadPoolExecutor(users) as pool:
        futures = [pool.submit(one_request, url, prompts[i % len(prompts)], seconds, timeout_s) for i in range(users)]
        results = [f.result() for f in futures]
    latencies = sorted(lat for ok, lat, _ in results if ok)
    errors = sorted({why for ok, _, why in results if not ok})
    return {"users": users, "completed": len(latencies), "failed": users - len(latencies),
            "latency_min_s": latencies[0] if latencies else None,
            "latency_median_s": statistics.median(latencies) if latencies else None,
            "latency_max_s": latencies[-1] if latencies else None, "peak_rss_mb": peak.peak, "errors": errors}


def markdown(rows: list[dict], seconds: float) -> str:
    def s(v):
        return "-" if v is None else f"{v:.1f}"
    lines = [f"| mode | users x {seconds:g}-s clips | completed | latency min / median / max (s) "
             "| server peak RSS (MB) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['users']} | {r['completed']} / {r['users']} | {s(r['latency_min_s'])} / "
                     f"{s(r['latency_median_s'])} / {s(r['latency_max_s'])} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[8, 16, 24])
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length of every request")
    parser.add_argument("--modes", nargs="+", default=["batched", "serial"], choices=["batched", "serial"])
    parser.add_argument("--max-batch-size", type=int, default=None, help="the batched server's (default: the app's)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one request may take")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    from musiclm_studio.ui.controls import EXAMPLE_PROMPTS

    rows = []
    for mode in args.modes:
        log_path = os.path.join(tempfile.gettempdir(), f"load-bench-{mode}.log")
        process, url = start_server(mode == "batched", log_path, queue_size=max(args.users) + 8,
                                    max_batch_size=args.max_batch_size)
        try:
            print(f"{mode}: server pid {process.pid} on {url}; warm-up request", flush=True)
            one_request(url, EXAMPLE_PROMPTS[0], args.seconds, args.timeout)
            for users in args.users:
                row = {"mode": mode, **run_level(url, process.pid, users, args.seconds, EXAMPLE_PROMPTS, args.timeout)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print("\n" + markdown(rows, args.seconds))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"seconds": args.seconds, "cpu_count": os.cpu_count(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
