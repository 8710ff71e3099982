"""Network fault accuracy in a real kernel: requested vs achieved bandwidth, loss and partition.

Two network namespaces joined by a veth pair (tests.fixtures.netns); `gameday-chaos net` runs
in namespace a as it runs in a pod's network namespace, against a receiver in namespace b:
TCP transfers for bandwidth (about 4 s each), UDP datagrams counted by the receiver for loss,
TCP connects for partition. Needs root, iproute2 and nftables. Bounded: about a minute.

    .venv/bin/python -m bench.bench_chaos_net [--datagrams 5000] [--connects 100]
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.fixtures.netns import (
    PEER,
    connects,
    in_ns,
    running,
    start_receiver,
    tag,
    transfer_mbit,
    veth_pair,
)


def bandwidth(a: str, rate_mbit: int) -> tuple[float, float]:
    megabytes = max(1, rate_mbit // 2)  # about 4 s at the rate
    with running(
        a, "bandwidth", "--tag", tag(), "--interface", "veth-a", "--to", f"{PEER}:7001",
        "--rate", f"{rate_mbit}mbit", "--duration", "120s",
    ):  # fmt: skip
        shaped = transfer_mbit(a, 7001, megabytes)
        other = transfer_mbit(a, 7002, 64)
    return shaped, other


def loss(a: str, b: str, probability: float, datagrams: int) -> tuple[float, float]:
    counter = start_receiver(b)
    try:
        with running(
            a, "loss", "--tag", tag(), "--interface", "veth-a", "--to", f"{PEER}:9001/udp",
            "--probability", str(probability), "--duration", "120s",
        ):  # fmt: skip
            in_ns(
                a,
                "import socket, time\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                f"for i in range({datagrams}):\n"
                f"    s.sendto(b'x', ({PEER!r}, 9001)); s.sendto(b'x', ({PEER!r}, 9002))\n"
                "    time.sleep(0.0002)\n",
                timeout=120,
            )
            time.sleep(0.5)
        out, _ = counter.communicate("", timeout=10)
    finally:
        counter.kill()
    lossy, clean = (int(n) for n in out.split())
    return 1 - lossy / datagrams, 1 - clean / datagrams


def partition(a: str, count: int, reject: bool) -> tuple[float, float]:
    flags = ["--reject"] if reject else []
    with running(
        a, "partition", "--tag", tag(), "--interface", "veth-a", "--to", f"{PEER}:7001",
        "--duration", "300s", *flags,
    ):  # fmt: skip
        cut = [connects(a, 7001, timeout=0.2) for _ in range(count)]
        other = [connects(a, 7002) for _ in range(count)]
    return 1 - cut.count("ok") / count, 1 - other.count("ok") / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=5000)
    parser.add_argument("--connects", type=int, default=100)
    args = parser.parse_args()
    with veth_pair() as (a, b):
        sink = start_receiver(b)
        try:
            print("bandwidth (one TCP transfer to the shaped port, one to another port)")
            print(f"  {'requested':>10} {'achieved':>10} {'error':>7} {'other port':>11}")
            for rate in (4, 16, 64):
                shaped, other = bandwidth(a, rate)
                print(
                    f"  {rate:7} Mb/s {shaped:7.2f} Mb/s {100 * (shaped - rate) / rate:+6.1f}% "
                    f"{other:8.0f} Mb/s",
                    flush=True,
                )
        finally:
            sink.kill()
        print(f"loss ({args.datagrams} UDP datagrams to the lossy port and as many to another)")
        print(f"  {'requested':>10} {'achieved':>10} {'points':>7} {'other port':>11}")
        for probability in (0.05, 0.3, 0.6):
            lost, other_lost = loss(a, b, probability, args.datagrams)
            print(
                f"  {probability:10.2f} {lost:10.4f} {100 * (lost - probability):+7.2f} "
                f"{other_lost:11.4f}",
                flush=True,
            )
        sink = start_receiver(b)
        try:
            print(f"partition ({args.connects} TCP connects to the cut port and to another)")
            for reject in (False, True):
                cut, other = partition(a, args.connects, reject)
                mode = "reject" if reject else "drop"
                print(f"  {mode:6} cut port failed {cut:.0%}, other port failed {other:.0%}")
        finally:
            sink.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
