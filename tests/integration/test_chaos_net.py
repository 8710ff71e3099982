"""Bandwidth, loss and partition in a real kernel: a veth pair between two network namespaces.

The injector runs in namespace a as it runs in a pod's network namespace; the kernel state is
read back with nft and tc from inside it, and the traffic is real (TCP transfers, UDP datagrams
counted by a receiver in namespace b).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.netns import (
    PEER,
    connects,
    finish,
    in_ns,
    kernel_state,
    run_injector,
    running,
    start,
    start_receiver,
    tag,
    transfer_mbit,
)


@pytest.fixture
def peer(netns_pair: tuple[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    if shutil.which("nft") is None:
        pytest.skip(
            "needs nft (Debian package nftables): the network faults install and read back with it"
        )
    a, b = netns_pair
    receiver = start_receiver(b)
    yield a, receiver
    receiver.kill()
    receiver.wait(10)


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
    # How close the rate is held is measured by bench/bench_chaos_net.py; here, that it binds.
    assert 8 < shaped < 24, shaped
    assert unshaped > 5 * 16, unshaped
    assert summary["outcome"] == "completed" and summary["remaining"] == []
    assert "htb" not in kernel_state(a)
    assert transfer_mbit(a, 7001, 32) > 5 * 16


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
    # Accuracy over many packets is bench/bench_chaos_net.py's; 0.3 ± 0.15 is over 10 sigma here.
    assert 0.15 < 1 - got_lossy / sent < 0.45, got_lossy
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
