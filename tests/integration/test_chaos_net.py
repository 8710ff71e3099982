"""Bandwidth, loss and partition in a real kernel: a veth pair between two network namespaces.

The injector runs in namespace a as it runs in a pod's network namespace; the kernel state is
read back with nft and tc from inside it, and the traffic is real (TCP transfers, UDP datagrams
counted by a receiver in namespace b).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.fixtures.netns import run_injector

PEER = "10.231.0.2"
# A receiver in namespace b: TCP sinks on 7001 and 7002, a UDP counter on 9001 and 9002 that
# prints how many datagrams each port got when its stdin closes.
RECEIVER = """
import socket, sys, threading
def sink(port):
    s = socket.create_server(("0.0.0.0", port), backlog=256)
    while True:
        c, _ = s.accept()
        def drain(c=c):
            while c.recv(1 << 16):
                pass
            c.sendall(b"k"); c.close()
        threading.Thread(target=drain, daemon=True).start()
counts = {}
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        s.recv(2048); counts[port] = counts.get(port, 0) + 1
for port in (7001, 7002):
    threading.Thread(target=sink, args=(port,), daemon=True).start()
for port in (9001, 9002):
    threading.Thread(target=udp, args=(port,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
print(counts.get(9001, 0), counts.get(9002, 0), flush=True)
"""


def in_ns(ns: str, script: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout.strip()


def transfer_mbit(ns: str, port: int, megabytes: int) -> float:
    """Megabits per second of one TCP transfer from `ns` to the peer, until it acknowledged."""
    return float(
        in_ns(
            ns,
            "import socket, time\n"
            f"s = socket.create_connection(({PEER!r}, {port}), timeout=30)\n"
            "t = time.monotonic(); b = b'x' * 65536\n"
            f"for _ in range({megabytes} * 16): s.sendall(b)\n"
            "s.shutdown(socket.SHUT_WR); s.recv(1)\n"
            f"print({megabytes} * 8 * 1048576 / (time.monotonic() - t) / 1e6)\n",
        )
    )


def connects(ns: str, port: int, timeout: float = 1.0) -> str:
    return in_ns(
        ns,
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({PEER!r}, {port}), timeout={timeout}).close()\n"
        "    print('ok')\n"
        "except TimeoutError: print('timeout')\n"
        "except ConnectionRefusedError: print('refused')\n",
    )


@pytest.fixture
def peer(netns_pair: tuple[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    if shutil.which("nft") is None:
        pytest.skip("needs nft (Debian package nftables) for the loss and partition faults")
    a, b = netns_pair
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", b, sys.executable, "-c", RECEIVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    yield a, receiver
    receiver.kill()
    receiver.wait(10)


def start(ns: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "gameday_chaos", "net", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    for line in process.stderr:
        if "net_fault_installed" in line or time.monotonic() > deadline:
            break
    else:
        pytest.fail(f"the injector ended before installing: {process.wait(10)}")
    return process


@contextmanager
def running(ns: str, *args: str) -> Iterator[dict[str, Any]]:
    """The injector for the block; after it, SIGTERM, and its summary fills the dict."""
    summary: dict[str, Any] = {}
    injector = start(ns, *args)
    try:
        yield summary
    finally:
        injector.send_signal(signal.SIGTERM)
        summary.update(finish(injector))


def kernel_state(ns: str) -> str:
    tables = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "tables"], capture_output=True, text=True
    )
    qdiscs = subprocess.run(
        ["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "veth-a"],
        capture_output=True,
        text=True,
    )
    return tables.stdout + qdiscs.stdout


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=30)
    summary: dict[str, Any] = json.loads(out)
    return summary


def tag() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_bandwidth_limits_only_the_destination_and_is_gone_after_sigterm(
    peer: tuple[str, subprocess.Popen[str]],
) -> None:
    a, _ = peer
    t = tag()
    with running(
        a, "bandwidth", "--tag", t, "--interface", "veth-a", "--to", f"{PEER}:7001",
        "--rate", "16mbit", "--duration", "60s",
    ) as summary:  # fmt: skip
        shaped = transfer_mbit(a, 7001, 8)
        unshaped = transfer_mbit(a, 7002, 32)
    assert abs(shaped - 16) / 16 < 0.10, shaped
    assert unshaped > 10 * 16, unshaped
    assert summary["outcome"] == "completed" and summary["remaining"] == []
    assert "htb" not in kernel_state(a)
    assert transfer_mbit(a, 7001, 32) > 10 * 16


def test_loss_drops_its_probability_of_datagrams_to_the_destination_only(
    peer: tuple[str, subprocess.Popen[str]],
) -> None:
    a, receiver = peer
    t = tag()
    sent = 3000
    with running(
        a, "loss", "--tag", t, "--interface", "veth-a", "--to", f"{PEER}:9001/udp",
        "--probability", "0.3", "--duration", "60s",
    ) as summary:  # fmt: skip
        in_ns(
            a,
            "import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range({sent}):\n"
            f"    s.sendto(b'x', ({PEER!r}, 9001)); s.sendto(b'x', ({PEER!r}, 9002))\n"
            "    time.sleep(0.0002)\n",
        )
        time.sleep(0.5)
    out, _ = receiver.communicate("", timeout=10)
    got_lossy, got_clean = (int(n) for n in out.split())
    assert abs((1 - got_lossy / sent) - 0.3) <= 0.03, got_lossy
    assert got_clean == sent
    assert summary["outcome"] == "completed" and t not in kernel_state(a)


@pytest.mark.parametrize(("reject", "seen"), [(False, "timeout"), (True, "refused")])
def test_partition_cuts_the_destination_and_leaves_the_rest(
    peer: tuple[str, subprocess.Popen[str]], reject: bool, seen: str
) -> None:
    a, _ = peer
    t = tag()
    flags = ["--reject"] if reject else []
    with running(
        a, "partition", "--tag", t, "--interface", "veth-a", "--to", f"{PEER}:7001",
        "--duration", "60s", *flags,
    ):  # fmt: skip
        cut = [connects(a, 7001, timeout=0.5) for _ in range(5)]
        other = [connects(a, 7002) for _ in range(5)]
    assert cut == [seen] * 5
    assert other == ["ok"] * 5
    assert connects(a, 7001) == "ok"


def test_the_fault_ends_by_itself_at_its_duration(peer: tuple[str, subprocess.Popen[str]]) -> None:
    a, _ = peer
    t = tag()
    injector = start(a, "partition", "--tag", t, "--interface", "veth-a", "--duration", "2s")
    summary = finish(injector)
    assert summary["outcome"] == "completed" and not summary["stopped_by_signal"]
    assert t not in kernel_state(a) and connects(a, 7001) == "ok"


@pytest.mark.parametrize("effect", [["partition"], ["bandwidth", "--rate", "1mbit"]])
def test_clean_removes_what_a_killed_injector_left_and_only_that(
    peer: tuple[str, subprocess.Popen[str]], effect: list[str]
) -> None:
    a, _ = peer
    t, other = tag(), tag()
    with running(
        a, "loss", "--tag", other, "--interface", "veth-a", "--to", "10.9.9.9",
        "--probability", "1", "--duration", "60s",
    ):  # fmt: skip
        clean_after_kill(a, t, other, effect)


def clean_after_kill(a: str, t: str, other: str, effect: list[str]) -> None:
    injector = start(
        a, *effect, "--tag", t, "--interface", "veth-a", "--to", f"{PEER}:7001",
        "--duration", "60s",
    )  # fmt: skip
    injector.kill()
    injector.wait(10)
    left_behind = kernel_state(a)
    assert f"gameday_{t}" in left_behind or "htb" in left_behind
    cleaned = run_injector(a, "net", "clean", "--tag", t, "--interface", "veth-a")
    assert cleaned.returncode == 0, cleaned.stderr
    summary = json.loads(cleaned.stdout)
    assert summary["outcome"] == "reverted" and summary["remaining"] == []
    assert len(summary["removed"]) == 1
    state = kernel_state(a)
    assert f"gameday_{t}" not in state and "htb" not in state
    assert f"gameday_{other}" in state
    assert connects(a, 7001) == "ok"
    again = run_injector(a, "net", "clean", "--tag", t, "--interface", "veth-a")
    assert json.loads(again.stdout)["removed"] == []
