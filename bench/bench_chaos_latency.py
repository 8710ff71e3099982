"""Latency injection accuracy of the proxy: requested vs measured one-way delay per chunk.

A sender writes timestamped 8-byte chunks through `gameday-chaos latency proxy` to a sink on
loopback that records their arrival; one process, one monotonic clock. Bounded: about
len(settings) x (samples x interval + 3) seconds.

    .venv/bin/python bench/bench_chaos_latency.py [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time


def measure(latency_ms: float, jitter_ms: float, samples: int, interval: float) -> list[float]:
    sink = socket.create_server(("127.0.0.1", 0))
    one_way: list[float] = []

    def serve() -> None:
        connection, _ = sink.accept()
        with connection:
            while data := connection.recv(65536):
                arrived = time.monotonic()
                for offset in range(0, len(data) - len(data) % 8, 8):
                    one_way.append(arrived - struct.unpack("!d", data[offset : offset + 8])[0])

    reader = threading.Thread(target=serve, daemon=True)
    reader.start()
    proxy = subprocess.Popen(
        [
            *(sys.executable, "-m", "gameday_chaos", "latency", "proxy", "--listen", "127.0.0.1:0"),
            *("--upstream", f"127.0.0.1:{sink.getsockname()[1]}"),
            *("--latency", f"{latency_ms}ms", "--jitter", f"{jitter_ms}ms"),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proxy.stderr is not None
        port = None
        while port is None:
            line = proxy.stderr.readline()
            if not line:
                raise RuntimeError("proxy exited")
            entry = json.loads(line)
            if entry["event"] == "proxy_listening":
                port = entry["port"]
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(samples):
                connection.sendall(struct.pack("!d", time.monotonic()))
                time.sleep(interval)
        reader.join(timeout=10 + latency_ms / 1000 * 2)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        sink.close()
    return one_way


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    print(f"{args.samples} chunks per setting, load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'requested':>14} {'p50 ms':>8} {'p50 err':>8} {'p1 ms':>7} {'p99 ms':>7} {'stdev ms':>8}"
    )
    for latency_ms, jitter_ms in ((0, 0), (10, 0), (50, 5), (100, 10), (200, 20)):
        delays = sorted(measure(latency_ms, jitter_ms, args.samples, args.interval))
        p50 = statistics.median(delays) * 1000
        p1 = delays[int(0.01 * len(delays))] * 1000
        p99 = delays[int(0.99 * len(delays)) - 1] * 1000
        error = f"{100 * (p50 / latency_ms - 1):+7.2f}%" if latency_ms else f"{p50:+6.2f}ms"
        label = f"{latency_ms}±{jitter_ms} ms"
        spread = statistics.stdev(delays) * 1000
        print(f"{label:>14} {p50:>8.2f} {error:>8} {p1:>7.2f} {p99:>7.2f} {spread:>8.2f}")


if __name__ == "__main__":
    main()
