"""What a tick reads and writes: the scenario is read only when kopf's copy is not the object
this process last wrote, and the status is written only when it changed (lastTickAt alone is
no change); the time of the last tick is kept in memory meanwhile, so what is counted from it
(downtime) is counted from the tick before, not from the last write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gameday_operator import scenario_tick, shell
from gameday_operator.config import Config, ConfigError
from gameday_operator.engine import Intent
from gameday_operator.model import (
    ActionState,
    JsonDict,
    Phase,
    Sample,
    Status,
    Timeline,
    parse_scenario_to_revert,
    parse_status,
)
from gameday_operator.model.status import status_patch
from tests.unit.fake_kube import LOAD, NS, STRESS, T0, Scene, scene

INJECTED = Status(phase=Phase.INJECTING, timeline=Timeline(started_at=T0, injected_at=T0))


def run(sc: Scene, at: float, monkeypatch: pytest.MonkeyPatch, body: Any = None) -> None:
    """One tick of the timer at T0 + `at` seconds, with the body kopf holds (None: none)."""
    monkeypatch.setattr(shell, "utcnow", lambda: T0 + timedelta(seconds=at))
    scenario_tick.tick(sc.rt, NS, sc.scenario.name, sc.log, lambda *_: None, body=body)


def kopf_copy(sc: Scene) -> dict[str, Any]:
    """The scenario as kopf's watch delivers it after the last write."""
    raw = sc.kube.get_scenario(NS, sc.scenario.name)
    assert raw is not None
    return raw


def injecting(monkeypatch: pytest.MonkeyPatch) -> Scene:
    sc = scene([LOAD])
    sc.write(INJECTED)
    run(sc, 1, monkeypatch)  # the first tick of this process reads, and writes its sample
    return sc


def test_a_tick_that_changes_nothing_but_its_time_neither_reads_nor_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = injecting(monkeypatch)
    written = sc.stored_status()["progress"]["lastTickAt"]
    sc.kube.calls.clear()
    run(sc, 2, monkeypatch, kopf_copy(sc))
    sc.kube.calls.remove(("get_scenario", NS, sc.scenario.name))  # kopf_copy's own
    assert sc.kube.called("get_scenario") == 0
    assert sc.kube.called("patch_scenario_status") == 0
    assert sc.stored_status()["progress"]["lastTickAt"] == written
    run(sc, 7, monkeypatch, kopf_copy(sc))  # a sample is due: written, with the tick's time
    assert parse_status(sc.stored_status()).progress.last_tick_at == T0 + timedelta(seconds=7)


def test_a_body_that_is_not_the_last_write_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = injecting(monkeypatch)
    stale = kopf_copy(sc)
    stale["metadata"]["resourceVersion"] = "1"  # kopf has not seen the last write yet
    sc.kube.calls.clear()
    run(sc, 2, monkeypatch, stale)
    assert sc.kube.called("get_scenario") == 1


def test_downtime_counts_from_the_last_tick_even_when_it_wrote_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = injecting(monkeypatch)
    run(sc, 2, monkeypatch, kopf_copy(sc))  # up, nothing written
    sc.kube.deployments[(NS, "web")]["status"]["readyReplicas"] = 0
    run(sc, 3, monkeypatch, kopf_copy(sc))  # down since the tick at 2 s, at the latest
    assert parse_status(sc.stored_status()).measurements.downtime_seconds == 1.0


def test_a_patch_carries_only_what_changed() -> None:
    before = INJECTED.to_dict()
    tick = replace(INJECTED, progress=replace(INJECTED.progress, last_tick_at=T0))
    assert status_patch(before, tick.to_dict()) is None
    failed = replace(tick, phase=Phase.FAILED)
    assert status_patch(before, failed.to_dict()) == {
        "phase": "Failed",
        "progress": failed.to_dict()["progress"],
    }
    assert status_patch(None, failed.to_dict()) == failed.to_dict()


def sampled(status: Status, *seconds: float) -> Status:
    return replace(
        status,
        samples=(
            *status.samples,
            *(
                Sample(at=T0 + timedelta(seconds=t), phase=Phase.INJECTING, service="web")
                for t in seconds
            ),
        ),
    )


def test_new_samples_alone_are_held_until_they_span_the_write_interval() -> None:
    before = sampled(INJECTED, 0).to_dict()
    assert status_patch(before, sampled(INJECTED, 0, 5).to_dict(), 0.0) is not None  # at once
    held = sampled(INJECTED, 0, 5, 10, 15, 20, 25)  # five new ones over 20 s
    assert status_patch(before, held.to_dict(), 30.0) is None
    due = sampled(held, 35)  # 5 … 35: 30 s
    assert status_patch(before, due.to_dict(), 30.0) == {"samples": due.to_dict()["samples"]}
    # Anything else that changes goes out at once, with the samples held so far.
    degraded = replace(held, phase=Phase.DEGRADED)
    patch = status_patch(before, degraded.to_dict(), 30.0)
    assert patch is not None and patch["samples"] == held.to_dict()["samples"]


def test_the_sample_write_interval_is_read_from_the_environment_and_bounded() -> None:
    assert Config().sample_write_interval_seconds == 0.0
    assert (
        Config.from_env({"GAMEDAY_SAMPLE_WRITE_INTERVAL": "30s"}).sample_write_interval_seconds
        == 30
    )
    with pytest.raises(ConfigError, match="GAMEDAY_SAMPLE_WRITE_INTERVAL='11m' must be between"):
        Config.from_env({"GAMEDAY_SAMPLE_WRITE_INTERVAL": "11m"})


def test_samples_held_survive_a_read_of_the_object_and_go_out_with_the_next_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene([LOAD])
    sc.rt = replace(sc.rt, config=replace(sc.rt.config, sample_write_interval_seconds=30.0))
    sc.write = shell.Writer(sc.rt, sc.scenario)
    sc.write(INJECTED)
    run(sc, 1, monkeypatch)  # the first sample: the first one is written
    sc.kube.calls.clear()
    for at in (6, 11, 16):
        run(sc, at, monkeypatch, kopf_copy(sc))
    assert sc.kube.called("patch_scenario_status") == 0  # three samples held
    assert len(parse_status(sc.stored_status()).samples) == 1
    # Someone else changes the object: the next tick reads it, and keeps what it held.
    sc.kube.scenarios[(NS, sc.scenario.name)]["metadata"]["resourceVersion"] = "edited"
    sc.kube.deployments[(NS, "web")]["status"]["readyReplicas"] = 0  # down: a change to write
    run(sc, 21, monkeypatch, kopf_copy(sc))
    written = parse_status(sc.stored_status()).samples
    assert [s.at for s in written] == [T0 + timedelta(seconds=t) for t in (1, 6, 11, 16, 21)]


class Crash(BaseException):
    """The operator's process dies here (not an error the shell could handle)."""


def test_a_fault_in_many_pods_is_marked_in_few_writes_and_a_crash_repeats_no_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pods = [f"web-{n:02d}" for n in range(40)]
    sc = scene([{**STRESS, "selector": {"mode": "All"}}], pods=pods)
    monkeypatch.setattr(shell, "APPLIED_WRITE_SECONDS", 3600.0)
    add = sc.kube.add_ephemeral_container

    def dies_after_the_thirtieth(namespace: str, pod: str, container: JsonDict) -> JsonDict:
        added = add(namespace, pod, container)
        if sc.kube.called("add_ephemeral_container") == 30:
            raise Crash  # that change is made, and not recorded
        return added

    monkeypatch.setattr(sc.kube, "add_ephemeral_container", dies_after_the_thirtieth)
    target = sc.deployment()
    with pytest.raises(Crash):
        shell.execute(sc.rt, sc.ctx, INJECTED, Intent.INJECT, target, sc.write, sc.emit, sc.log)
    # Recorded, all 40 Pending; then the first mark. Not one write per change.
    assert sc.kube.called("patch_scenario_status") == 2
    left = parse_status(sc.stored_status())  # what the operator that takes over reads
    assert sum(a.state is ActionState.PENDING for a in left.actions) == 39
    monkeypatch.setattr(sc.kube, "add_ephemeral_container", add)
    status = sc.write(shell.resume_pending(sc.rt, sc.ctx, left, sc.write, sc.emit, sc.log))
    assert {a.state for a in status.actions} == {ActionState.APPLIED}
    assert {a.state for a in parse_status(sc.stored_status()).actions} == {ActionState.APPLIED}
    assert sc.kube.called("add_ephemeral_container") == 40  # each pod's injector added once
    for name in pods:
        assert len(sc.kube.pods[(NS, name)]["spec"]["ephemeralContainers"]) == 1


def test_a_scenario_is_parsed_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = injecting(monkeypatch)
    parsed: list[int] = []
    parse = parse_scenario_to_revert

    def counting(raw: Any) -> Any:
        parsed.append(raw["metadata"]["generation"])
        return parse(raw)

    monkeypatch.setattr("gameday_operator.runtime.parse_scenario_to_revert", counting)
    for at in (2, 3, 4):
        run(sc, at, monkeypatch, kopf_copy(sc))
    sc.kube.scenarios[(NS, sc.scenario.name)]["metadata"]["generation"] = 2
    run(sc, 5, monkeypatch, kopf_copy(sc))
    assert parsed == [2]  # generation 1 was parsed by the first tick, once
