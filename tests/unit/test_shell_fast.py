"""The shell against the in-memory adapter: every change recorded before it is made, nothing
made twice, a restarted operator finishes what was recorded, a revert that left something
running is not counted as done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from kubernetes.client.exceptions import ApiException

from gameday_operator import engine, scenario_tick, shell
from gameday_operator.actuators import ActuatorError
from gameday_operator.config import Config
from gameday_operator.engine import Intent
from gameday_operator.model import (
    Action,
    ActionState,
    JsonDict,
    Phase,
    Status,
    Timeline,
    parse_scenario_to_revert,
    parse_status,
)
from tests.unit.fake_kube import CPU_EXEC, LOAD, NETEM, NS, T0, Scene, scene
from tests.unit.test_api_errors import INVALID_LABEL, client_error, job_invalid, status_body

INJECTING = Status(phase=Phase.INJECTING)


class Crash(BaseException):
    """The operator's process dies here (not an error the shell could handle)."""


def execute(sc: Scene, intent: Intent, status: Status = INJECTING) -> Status:
    target = sc.deployment()
    return shell.execute(sc.rt, sc.ctx, status, intent, target, sc.write, sc.emit, sc.log)


def revert_all(sc: Scene, status: Status) -> Status:
    return shell.revert_all(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)


def stored(sc: Scene) -> Status:
    """The status as the cluster holds it: what a restarted operator would read."""
    return parse_status(sc.stored_status())


def states(status: Status) -> dict[str, ActionState]:
    return {a.id: a.state for a in status.actions}


# ------------------------------------------------------------------------------ execute


def test_inject_records_every_action_before_making_any() -> None:
    sc = scene()
    seen: list[dict[str, ActionState]] = []

    def recording(ns: str, pod: str, container: str, command: list[str]) -> str:
        seen.append(states(stored(sc)))
        return sc.kube.hogs(ns, pod, container, command)

    sc.kube.exec_handler = recording
    status = sc.write(execute(sc, Intent.INJECT))  # the tick writes what execute returns
    pending, applied = ActionState.PENDING, ActionState.APPLIED
    assert seen == [
        {"f0-web-a": pending, "f0-web-b": pending},
        {"f0-web-a": applied, "f0-web-b": pending},
    ]
    assert states(stored(sc)) == states(status) == {"f0-web-a": applied, "f0-web-b": applied}
    assert sc.reasons() == ["FaultInjected"]
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 2


def test_inject_again_changes_nothing() -> None:
    sc = scene([CPU_EXEC, LOAD])
    first = execute(sc, Intent.INJECT)
    execs, jobs = len(sc.kube.execs), sc.kube.called("create_job")
    second = execute(sc, Intent.INJECT, first)
    assert second.actions == first.actions
    assert (len(sc.kube.execs), sc.kube.called("create_job")) == (execs, jobs)
    assert sc.kube.hogs.running("web-a") == 2 and len(sc.kube.jobs) == 1


def test_inject_that_fails_marks_the_action_and_fails_the_run() -> None:
    sc = scene()

    def no_timeout_in_b(ns: str, pod: str, container: str, command: list[str]) -> str:
        if pod == "web-b" and "timeout -s KILL" in command[2]:  # the start script only
            return "sh: timeout: not found\n"
        return sc.kube.hogs(ns, pod, container, command)

    sc.kube.exec_handler = no_timeout_in_b
    status = execute(sc, Intent.INJECT)
    assert (status.phase, status.reason) == (Phase.FAILED, "InjectionFailed")
    assert states(stored(sc)) == {"f0-web-a": ActionState.APPLIED, "f0-web-b": ActionState.FAILED}
    failed = stored(sc).action("f0-web-b")
    assert failed is not None and "no CPU hog started" in (failed.error or "")
    assert [(t, r) for t, r, _ in sc.events] == [("Warning", "InjectionFailed")]
    revert_all(sc, status)  # what the next tick does
    assert sc.kube.hogs.running("web-a") == 0


def writes(
    sc: Scene, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str | None, dict[str, ActionState]]]:
    """The phase and action states the status has after each write from now on, in order."""
    seen: list[tuple[str | None, dict[str, ActionState]]] = []
    patch = sc.kube.patch_scenario_status

    def recording(namespace: str, name: str, status: JsonDict) -> JsonDict:
        stored = patch(namespace, name, status)
        written = parse_status(stored.get("status"))
        seen.append((written.phase, states(written)))
        return stored

    monkeypatch.setattr(sc.kube, "patch_scenario_status", recording)
    return seen


def test_a_failed_change_is_written_once_together_with_the_failed_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene()
    sc.kube.exec_handler = lambda ns, pod, c, cmd: (
        "" if pod == "web-b" else sc.kube.hogs(ns, pod, c, cmd)
    )
    seen = writes(sc, monkeypatch)
    status = execute(sc, Intent.INJECT)
    pending, applied, failed = ActionState.PENDING, ActionState.APPLIED, ActionState.FAILED
    assert seen == [
        (Phase.INJECTING, {"f0-web-a": pending, "f0-web-b": pending}),
        (Phase.INJECTING, {"f0-web-a": applied, "f0-web-b": pending}),
        (Phase.FAILED, {"f0-web-a": applied, "f0-web-b": failed}),
    ]
    assert (stored(sc).phase, states(stored(sc))) == (status.phase, states(status))


def test_a_recorded_change_of_a_kind_no_actuator_knows_fails_the_run_on_resume() -> None:
    sc = scene()
    mystery = Action(id="x", at=T0, kind="Mystery", target="pod/web-a")
    status = shell.record(sc.rt, sc.ctx, INJECTING, mystery)
    status = shell.resume_pending(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log)
    assert (status.phase, status.reason) == (Phase.FAILED, "ResumeFailed")
    assert status.message == "no actuator for kind Mystery"
    (kept,) = stored(sc).actions
    assert kept.state is ActionState.FAILED and kept.error == status.message
    assert sc.reasons() == ["ResumeFailed"]


def test_an_apply_that_failed_after_taking_effect_is_reverted_all_the_same() -> None:
    sc = scene()

    def started_then_timed_out(ns: str, pod: str, container: str, command: list[str]) -> str:
        out = sc.kube.hogs(ns, pod, container, command)
        if pod == "web-b" and "started" in out:
            raise TimeoutError("exec timed out")  # the loops run; the answer never came
        return out

    sc.kube.exec_handler = started_then_timed_out
    status = execute(sc, Intent.INJECT)
    assert status.phase is Phase.FAILED and sc.kube.hogs.running("web-b") == 2
    sc.kube.exec_handler = sc.kube.hogs
    done = revert_all(sc, status)
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0
    assert done.live_actions == ()
    failed = done.action("f0-web-b")
    # Reverted, and still saying why its apply failed.
    assert failed is not None and failed.state is ActionState.REVERTED
    assert "exec timed out" in (failed.error or "")


def test_a_change_whose_applied_mark_could_not_be_written_is_still_reverted() -> None:
    # The API call went through; the status write that marks it Applied did not. What the
    # cluster holds says Pending (recorded before the call), and the revert undoes a Pending
    # change like an Applied one: nothing is left running behind a Reverted condition.
    sc = scene()
    real = sc.kube.patch_scenario_status
    refused: list[JsonDict] = []

    def refuses_the_applied_mark(namespace: str, name: str, status: JsonDict) -> JsonDict:
        marks = [a for a in status.get("actions") or [] if a.get("state") == "Applied"]
        if marks and not refused:
            refused.append(status)
            raise ApiException(status=500, reason="etcdserver: request timed out")
        return real(namespace, name, status)

    sc.kube.patch_scenario_status = refuses_the_applied_mark  # type: ignore[method-assign]
    with pytest.raises(ApiException):
        execute(sc, Intent.INJECT)
    assert refused and sc.kube.hogs.running("web-a") > 0
    kept = stored(sc)
    assert ActionState.PENDING in set(states(kept).values()), states(kept)
    assert {a.id for a in kept.live_actions} == {a.id for a in kept.actions}
    sc.kube.patch_scenario_status = real  # type: ignore[method-assign]
    done = revert_all(sc, replace(kept, phase=Phase.FAILED))
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0
    assert done.live_actions == () and stored(sc).live_actions == ()


def test_inject_that_cannot_be_planned_fails_the_run_and_changes_nothing() -> None:
    sc = scene()
    del sc.kube.deployments[(NS, "web")]
    status = execute(sc, Intent.INJECT)
    assert (status.phase, status.reason) == (Phase.FAILED, "InjectionFailed")
    assert "could not plan" in status.message and not status.actions
    assert not sc.kube.execs and stored(sc).phase is Phase.FAILED


def test_propose_records_proposals_and_changes_nothing() -> None:
    sc = scene()
    before = sc.kube.get_deployment(NS, "web")
    status = execute(sc, Intent.PROPOSE)
    assert [p.kind for p in status.proposals] == ["VerticalResize"]
    assert not status.actions and sc.kube.get_deployment(NS, "web") == before
    assert sc.reasons() == ["RemediationProposed"]


def test_remediate_applies_once_and_revert_all_undoes_it() -> None:
    sc = scene()
    before = sc.kube.get_deployment(NS, "web")
    status = execute(sc, Intent.REMEDIATE)
    assert states(status) == {"r-resize": ActionState.APPLIED}
    after = sc.kube.get_deployment(NS, "web")
    assert after is not None and after["metadata"]["generation"] == 2
    assert execute(sc, Intent.REMEDIATE, status).actions == status.actions
    assert sc.kube.get_deployment(NS, "web") == after
    status = execute(sc, Intent.REVERT_ALL, status)
    reverted = sc.kube.get_deployment(NS, "web")
    assert before is not None and reverted is not None
    assert reverted["spec"]["template"]["spec"] == before["spec"]["template"]["spec"]
    assert states(stored(sc)) == {"r-resize": ActionState.REVERTED}
    assert sc.reasons() == ["RemediationApplied", "RemediationApplied", "Reverted"]


# ----------------------------------------------------------------------- resume_pending


def crash_at_second_exec(sc: Scene) -> None:
    """The second exec starts its loops, then the operator dies before recording it."""

    def crashing(ns: str, pod: str, container: str, command: list[str]) -> str:
        out = sc.kube.hogs(ns, pod, container, command)
        if len(sc.kube.execs) == 2:
            raise Crash
        return out

    sc.kube.exec_handler = crashing


def test_an_apply_resumed_after_a_restart_starts_nothing_new() -> None:
    sc = scene()
    crash_at_second_exec(sc)
    with pytest.raises(Crash):
        execute(sc, Intent.INJECT)
    left = stored(sc)  # what the restarted operator reads
    assert states(left) == {"f0-web-a": ActionState.APPLIED, "f0-web-b": ActionState.PENDING}
    sc.kube.exec_handler = sc.kube.hogs
    status = shell.resume_pending(sc.rt, sc.ctx, left, sc.write, sc.emit, sc.log)
    assert states(status) == states(stored(sc))
    assert set(states(status).values()) == {ActionState.APPLIED}
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 2
    assert len(sc.kube.execs) == 3  # the resumed start script found the loops running


def test_nothing_is_resumed_once_the_run_has_ended() -> None:
    sc = scene()
    action = shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())[0]
    status = Status(phase=Phase.ABORTED).with_action(action)
    assert shell.resume_pending(sc.rt, sc.ctx, status, sc.write, sc.emit, sc.log) == status
    assert not sc.kube.execs and sc.kube.called("patch_scenario_status") == 0


def test_a_resume_that_fails_fails_the_run_and_leaves_the_action_to_be_reverted() -> None:
    sc = scene(pods=["web-a"])
    (action,) = shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())
    sc.kube.remove_pod(NS, "web-a")
    pending = INJECTING.with_action(action)
    status = shell.resume_pending(sc.rt, sc.ctx, pending, sc.write, sc.emit, sc.log)
    assert (status.phase, status.reason) == (Phase.FAILED, "ResumeFailed")
    assert "web-a is gone" in status.message
    assert sc.events == [("Warning", "ResumeFailed", status.message)]
    assert sc.kube.called("patch_scenario_status") == 1  # the failed change and run, at once
    assert stored(sc).phase is Phase.FAILED
    assert stored(sc).live_actions[0].state is ActionState.FAILED
    assert [a.id for a in stored(sc).live_actions] == ["f0-web-a"]
    assert revert_all(sc, status).live_actions == ()  # the pod took its loops with it


# --------------------------------------------------------------------------- revert_all


def test_revert_all_undoes_newest_first_and_twice_is_harmless() -> None:
    sc = scene([CPU_EXEC, LOAD])
    status = execute(sc, Intent.INJECT)
    sc.kube.calls.clear()
    status = revert_all(sc, status)
    undoing = [c[:3] for c in sc.kube.calls if c[0] in ("delete_job", "exec")]
    assert [c[0] for c in undoing] == ["delete_job", "exec", "exec"]
    assert [c[2] for c in undoing[1:]] == ["web-b", "web-a"]
    assert set(states(stored(sc)).values()) == {ActionState.REVERTED}
    assert all(a.reverted_at is not None for a in status.actions)
    calls = len(sc.kube.calls)
    assert revert_all(sc, status) == status
    assert len(sc.kube.calls) == calls
    assert sc.reasons()[-2:] == ["Reverted", "Reverted"]
    assert not sc.kube.jobs and sc.kube.hogs.running("web-a") == 0


def test_a_revert_that_leaves_loops_running_is_not_counted_as_done() -> None:
    sc = scene([CPU_EXEC, LOAD])
    status = execute(sc, Intent.INJECT)
    sc.kube.hogs.unkillable = 1
    with pytest.raises(ActuatorError, match="still running"):
        revert_all(sc, status)
    left = stored(sc)
    assert [a.id for a in left.live_actions] == ["f0-web-a", "f0-web-b"]
    assert all("left 1" in (a.error or "") for a in left.live_actions)
    job = left.action("f1-job")
    assert job is not None and job.state is ActionState.REVERTED  # the others went on
    assert sc.reasons()[-1] == "RevertFailed"
    sc.kube.hogs.unkillable = 0  # the next attempt finds them killable
    done = revert_all(sc, left)
    assert done.live_actions == () and all(a.error is None for a in done.actions)
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0


def test_an_injector_that_has_not_started_stays_live_until_it_can_no_longer_take_effect() -> None:
    """An ephemeral injector still waiting (an image pull) may start a moment later and run
    for its whole duration: it is not counted as reverted until it is stopped, has ended, or
    its deadline (the scenario's end, 5 minutes after T0) has passed."""
    memory = {"type": "MemoryStress", "memoryStress": {"size": "32Mi"}}
    sc = scene([memory], pods=["web-a"])
    status = execute(sc, Intent.INJECT)
    (action,) = status.actions
    container = action.detail["container"]
    sc.kube.set_ephemeral_state(NS, "web-a", container, "waiting", reason="ErrImagePull")
    with pytest.raises(ActuatorError, match=r"has not started yet \(ErrImagePull\)"):
        revert_all(sc, status)
    left = stored(sc)
    assert [a.id for a in left.live_actions] == [action.id]
    assert "ends by itself at 2025-06-01T12:05:00Z" in (left.live_actions[0].error or "")
    assert sc.reasons()[-1] == "RevertFailed" and not sc.kube.execs
    sc.ctx = replace(sc.ctx, now=T0 + timedelta(minutes=5, seconds=3))  # a later tick
    done = revert_all(sc, left)
    assert done.live_actions == () and sc.reasons()[-1] == "Reverted"
    assert not sc.kube.execs  # nothing to stop: started now, it would do nothing


def test_a_cleanup_under_way_is_recorded_without_a_warning_until_it_exits_0() -> None:
    """A netem (or network) fault's revert spans ticks: the tick goes on (no exception, no
    RevertFailed Warning), the status says where it stands, and it counts as Reverted only
    once the cleanup container has exited 0."""
    sc = scene([NETEM], pods=["web-a"])
    status = execute(sc, Intent.INJECT)
    (action,) = status.actions
    killed = {"exitCode": 137, "reason": "Error"}
    sc.kube.set_ephemeral_state(NS, "web-a", action.detail["container"], "terminated", **killed)
    status = execute(sc, Intent.REVERT_ALL, status)  # the tick's way: it returns
    cleanup = action.detail["cleanup"]["name"]
    (left,) = stored(sc).actions
    assert left.state is ActionState.APPLIED and left.error is None
    assert left.revert_progress == (
        f"cleanup {cleanup} added to web-a (attempt 1 of 3); done once it exits 0"
    )
    assert status.actions[0].revert_progress == left.revert_progress
    with pytest.raises(shell.RevertUnderWay) as under_way:  # the delete handler's way
        revert_all(sc, status)
    status = under_way.value.status
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup, "running")
    status = execute(sc, Intent.REVERT_ALL, status)
    running = f"cleanup {cleanup} in web-a running (attempt 1 of 3)"
    assert stored(sc).actions[0].revert_progress == running
    writes = sc.kube.called("patch_scenario_status")
    status = execute(sc, Intent.REVERT_ALL, status)
    assert sc.kube.called("patch_scenario_status") == writes  # written when it changes only
    assert "RevertFailed" not in sc.reasons() and "Reverted" not in sc.reasons()
    sc.kube.set_ephemeral_state(NS, "web-a", cleanup, "terminated", exitCode=0)
    status = execute(sc, Intent.REVERT_ALL, status)
    (done,) = stored(sc).actions
    assert done.state is ActionState.REVERTED and done.revert_progress is None
    assert status.live_actions == () and sc.reasons()[-1] == "Reverted"


def test_revert_all_counts_a_pod_gone_as_reverted() -> None:
    sc = scene()
    status = execute(sc, Intent.INJECT)
    sc.kube.remove_pod(NS, "web-a")
    status = revert_all(sc, status)
    assert set(states(status).values()) == {ActionState.REVERTED}
    assert [e[1] for e in sc.kube.execs[2:]] == ["web-b"]


def test_revert_all_refuses_an_action_it_has_no_actuator_for() -> None:
    sc = scene()
    unknown = Action(id="x", at=T0, kind="Mystery", target="pod/web-a")
    with pytest.raises(ActuatorError, match="no actuator for kind Mystery"):
        revert_all(sc, shell.record(sc.rt, sc.ctx, INJECTING, unknown))
    assert sc.reasons() == ["RevertFailed"]


# ------------------------------------------------------------------ errors as users see them


def no_dump(text: str) -> bool:
    """One line, without what the client's str(ApiException) adds around the reason."""
    return "\n" not in text and "HTTP response" not in text and "Audit-Id" not in text


def test_an_api_error_reaches_the_condition_as_its_one_line_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene([LOAD])
    refused = job_invalid()

    def create_job(namespace: str, body: dict[str, object]) -> bool:
        raise refused

    monkeypatch.setattr(sc.kube, "create_job", create_job)
    status = execute(sc, Intent.INJECT)
    assert (status.phase, status.reason) == (Phase.FAILED, "InjectionFailed")
    (action,) = stored(sc).actions
    why = f"HTTP 422 Invalid: {INVALID_LABEL}"
    assert action.state is ActionState.FAILED and action.error == why
    assert status.message == f"LoadJob {action.target}: {why}"
    assert all(c.message == status.message for c in status.conditions if c.message)
    assert sc.events == [("Warning", "InjectionFailed", status.message)]
    assert no_dump(status.message) and "HTTP response headers" in str(refused)


def test_a_plan_that_an_api_error_stopped_says_why_on_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene()
    forbidden = client_error(
        403,
        "Forbidden",
        status_body(403, "Forbidden", 'pods is forbidden: cannot list resource "pods"'),
    )

    def list_pods(namespace: str, selector: dict[str, str]) -> list[dict[str, object]]:
        raise forbidden

    monkeypatch.setattr(sc.kube, "list_pods", list_pods)
    status = execute(sc, Intent.INJECT)
    expected = 'could not plan: HTTP 403 Forbidden: pods is forbidden: cannot list resource "pods"'
    assert status.message == expected and sc.events[-1][2] == expected


def test_a_revert_that_an_api_error_stopped_says_why_on_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene([LOAD])
    status = execute(sc, Intent.INJECT)
    unavailable = client_error(
        503, "Service Unavailable", b"etcdserver: leader changed\n", {"Audit-Id": "x"}
    )

    def delete_job(namespace: str, name: str) -> bool:
        raise unavailable

    monkeypatch.setattr(sc.kube, "delete_job", delete_job)
    with pytest.raises(ActuatorError) as raised:
        revert_all(sc, status)
    (action,) = stored(sc).live_actions
    why = "HTTP 503 Service Unavailable: etcdserver: leader changed"
    assert action.error == why and str(raised.value) == f"LoadJob {action.target}: {why}"
    assert sc.events[-1] == ("Warning", "RevertFailed", str(raised.value))


# ------------------------------------------------------------------ a record, not a command


def tick(sc: Scene) -> Status:
    """One tick as scenario_tick runs it, from the status the cluster holds: resume, gather,
    decide, act, write (Events go to `sc.emit` instead of kopf)."""
    raw = sc.kube.get_scenario(NS, sc.scenario.name)
    assert raw is not None
    scenario, spec_problem = parse_scenario_to_revert(raw)
    sc.ctx = replace(sc.ctx, body=raw, scenario=scenario)
    recorded = parse_status(raw["status"])
    status = shell.resume_pending(sc.rt, sc.ctx, recorded, sc.write, sc.emit, sc.log)
    seen = shell.gather(sc.rt, scenario, raw, sc.ctx.now, spec_problem)
    step = engine.step(scenario, status, seen.facts)
    status = shell.said(step, sc.emit)
    for intent in step.intents:
        target = seen.deployment
        status = shell.execute(sc.rt, sc.ctx, status, intent, target, sc.write, sc.emit, sc.log)
    return sc.write(status)


def edit_recorded(sc: Scene, index: int, edit: Callable[[JsonDict], object]) -> None:
    """Someone allowed to patch failurescenarios/status changes status.actions[index]."""
    edit(sc.stored_status()["actions"][index])


def warnings(sc: Scene, reason: str) -> list[str]:
    return [message for type_, r, message in sc.events if (type_, r) == ("Warning", reason)]


INJECTED = replace(INJECTING, timeline=Timeline(started_at=T0, injected_at=T0))


def test_a_pending_action_edited_in_status_is_not_applied() -> None:
    sc = scene([LOAD])
    (action,) = shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())
    sc.write(INJECTED.with_action(action))  # recorded; the operator stopped before applying

    def another_image(recorded: JsonDict) -> None:
        job = recorded["detail"]["manifest"]
        job["spec"]["template"]["spec"]["containers"][0]["image"] = "evil.example/miner:latest"

    edit_recorded(sc, 0, another_image)
    status = tick(sc)
    assert sc.kube.called("create_job") == 0 and not sc.kube.jobs
    assert (status.phase, status.reason) == (Phase.FAILED, "StatusTampered")
    said = (
        f"status.actions[0] (kind LoadJob on {action.target}) was changed outside the operator; "
        "it is not applied and not reverted by the operator — check what remains by hand"
    )
    intact = status.condition("ActionsIntact")
    assert intact is not None and (intact.status, intact.reason) == ("False", "StatusTampered")
    assert intact.message == said and warnings(sc, "StatusTampered") == [said]
    assert stored(sc).actions[0].state is ActionState.PENDING  # left as found, for a person
    done = tick(sc)  # nothing else to revert: the run ends, saying what may remain
    reverted = done.condition("Reverted")
    assert done.timeline.completed_at is not None and reverted is not None
    assert (reverted.status, reverted.reason) == ("False", "StatusTampered")
    assert said in reverted.message and warnings(sc, "StatusTampered") == [said]
    assert sc.kube.called("create_job") == 0


def test_a_live_action_whose_revert_detail_was_edited_is_not_reverted_with_it() -> None:
    sc = scene([CPU_EXEC, LOAD])
    status = sc.write(execute(sc, Intent.INJECT, INJECTED))  # as the tick writes it
    theirs = {"metadata": {"name": "nightly-backup"}, "spec": {}}
    sc.kube.jobs[(NS, "nightly-backup")] = theirs  # another team's Job in the namespace
    ours = next(a for a in status.actions if a.kind == "LoadJob")
    position = [a.id for a in status.actions].index(ours.id)
    edit_recorded(sc, position, lambda a: a["detail"].update(job="nightly-backup"))
    sc.kube.scenarios[(NS, sc.scenario.name)]["status"]["phase"] = "Aborted"  # revert now
    status = tick(sc)
    assert (NS, "nightly-backup") in sc.kube.jobs  # not deleted on the edited record's word
    assert sc.kube.called("delete_job") == 0 and (NS, ours.detail["job"]) in sc.kube.jobs
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0  # the rest
    assert {a.id: a.state for a in status.actions} == {
        "f0-web-a": ActionState.REVERTED,
        "f0-web-b": ActionState.REVERTED,
        ours.id: ActionState.APPLIED,  # as found: what it did is for a person to check
    }
    said = f"status.actions[{position}] (kind LoadJob on {ours.target}) was changed"
    assert [m[: len(said)] for m in warnings(sc, "StatusTampered")] == [said]
    done = tick(sc)
    assert done.timeline.completed_at is not None and sc.kube.called("delete_job") == 0
    assert len(warnings(sc, "StatusTampered")) == 1  # said once, not at every tick


def test_a_resize_whose_recorded_resources_were_edited_is_not_restored_from_them() -> None:
    sc = scene()
    status = execute(sc, Intent.REMEDIATE)
    resized = sc.kube.get_deployment(NS, "web")
    huge = {"requests": {"cpu": "64", "memory": "256Gi"}, "limits": {"cpu": "64"}}
    edit_recorded(sc, 0, lambda a: a["previous"].update(resources=huge))
    patches = sc.kube.called("patch_deployment")
    status = revert_all(sc, stored(sc))  # what the delete handler does
    assert sc.kube.called("patch_deployment") == patches
    assert sc.kube.get_deployment(NS, "web") == resized
    (action,) = status.actions
    assert action.state is ActionState.APPLIED and (action.previous or {})["resources"] == huge
    assert warnings(sc, "StatusTampered") == [
        "status.actions[0] (kind VerticalResize on deployment/web) was changed outside the "
        "operator; it is not applied and not reverted by the operator — check what remains by hand"
    ]
    assert sc.reasons()[-1] == "Reverted"  # the delete goes on: nothing else is left


def test_an_action_added_to_status_by_hand_is_not_applied() -> None:
    sc = scene([LOAD])
    (planned,) = shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())
    sc.write(INJECTED)
    forged = replace(planned, id="f9-job", seal="")  # the operator's own shape, unsealed
    sc.stored_status()["actions"] = [forged.to_dict()]
    status = tick(sc)
    assert sc.kube.called("create_job") == 0 and status.reason == "StatusTampered"


def reads(sc: Scene) -> dict[str, int]:
    """How often each read of the target went to the API server."""
    names = ("get_deployment", "list_replica_sets", "list_pods", "get_hpa")
    return {name: sc.kube.called(name) for name in names}


def test_a_tick_that_plans_nothing_reads_the_deployment_once_and_no_pods() -> None:
    sc = scene()
    sc.write(INJECTED)
    sc.ctx = replace(sc.ctx, now=T0 + timedelta(seconds=5))  # not degraded yet: nothing to do
    sc.kube.calls.clear()
    assert tick(sc).phase is Phase.INJECTING
    assert reads(sc) == {"get_deployment": 1, "list_replica_sets": 0, "list_pods": 0, "get_hpa": 0}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status(phase=Phase.PENDING, timeline=Timeline(started_at=T0)), Phase.INJECTING),
        (replace(INJECTED, phase=Phase.DEGRADED), Phase.REMEDIATING),
    ],
    ids=["inject", "remediate"],
)
def test_a_tick_that_plans_reads_the_deployment_once_and_its_pods_once(
    status: Status, expected: Phase
) -> None:
    sc = scene()
    d = sc.kube.deployments[(NS, "web")]
    d["status"] = {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2}
    d["status"] |= {"replicas": 2, "readyReplicas": 2}
    sc.write(replace(status, timeline=replace(status.timeline, breach_detected_at=T0)))
    sc.kube.calls.clear()
    assert tick(sc).phase is expected
    hpa = 0 if expected is Phase.INJECTING else 1  # a remediation plan sees the HPA too
    assert reads(sc) == {
        "get_deployment": 1,
        "list_replica_sets": 1,
        "list_pods": 1,
        "get_hpa": hpa,
    }


def test_an_injection_reads_the_services_its_faults_name_once_each_and_no_other() -> None:
    order = {"service": {"name": "order", "port": 80}}
    partition = {"type": "NetworkPartition", "networkPartition": {"destinations": [order]}}
    loss = {
        "type": "NetworkLoss",
        "networkLoss": {"probability": 0.5, "destinations": [order, {"service": {"name": "pay"}}]},
    }
    sc = scene([partition, loss, CPU_EXEC], pods=["web-a"])
    sc.kube.add_service(NS, "order", [80], cluster_ip="10.96.0.20", pods={"10.244.0.7": 8080})
    sc.kube.add_service(NS, "pay", [80], cluster_ip="10.96.0.30")
    sc.kube.add_service(NS, "unnamed", [80], cluster_ip="10.96.0.40")
    sc.kube.calls.clear()
    status = execute(sc, Intent.INJECT)
    assert [a.state for a in status.actions] == [ActionState.APPLIED] * 3
    looked_up = [c[2] for c in sc.kube.calls if c[0] in ("get_service", "list_endpoint_slices")]
    assert looked_up == ["order", "order", "pay", "pay"]
    args = status.actions[1].detail["spec"]["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--to"] == [
        "10.96.0.20/32:80/tcp",
        "10.244.0.7/32:8080/tcp",
        "10.96.0.30/32",
    ]


def test_an_untouched_status_resumes_and_reverts_as_before() -> None:
    sc = scene()
    crash_at_second_exec(sc)
    with pytest.raises(Crash):
        execute(sc, Intent.INJECT, INJECTED)
    sc.kube.exec_handler = sc.kube.hogs
    status = tick(sc)  # the restarted operator: it finishes what it recorded
    assert set(states(status).values()) == {ActionState.APPLIED}
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 2
    sc.kube.scenarios[(NS, sc.scenario.name)]["status"]["phase"] = "Aborted"
    status = tick(sc)
    assert set(states(stored(sc)).values()) == {ActionState.REVERTED}
    assert sc.kube.hogs.running("web-a") == sc.kube.hogs.running("web-b") == 0
    assert status.condition("ActionsIntact") is None and not warnings(sc, "StatusTampered")
    done = tick(sc)
    reverted = done.condition("Reverted")
    assert reverted is not None and (reverted.status, reverted.reason) == ("True", "Reverted")
    assert done.timeline.completed_at is not None


def test_a_seal_survives_the_api_servers_rewrite_of_whole_numbers() -> None:
    """The API server gives 2.0 back as 2: a seal made over 2.0 still verifies."""
    sc = scene()
    action = replace(
        shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())[0], detail={"seconds": 2.0}
    )
    sc.write(shell.record(sc.rt, sc.ctx, INJECTED, action))
    assert sc.stored_status()["actions"][0]["detail"] == {"seconds": 2}
    assert shell.intact(sc.rt, sc.ctx, stored(sc).actions[0])


def test_an_operator_restarted_with_another_key_refuses_what_the_first_recorded() -> None:
    sc = scene([LOAD])
    (action,) = shell.plan(
        sc.rt, sc.ctx, Intent.INJECT, sc.deployment()
    )  # sealed with the development key
    sc.write(INJECTED.with_action(action))
    sc.rt.config = Config(status_key="0123456789abcdef" * 4)  # the Secret was re-created
    status = tick(sc)
    assert sc.kube.called("create_job") == 0 and status.reason == "StatusTampered"


def test_a_run_whose_spec_no_longer_reads_is_failed_and_its_changes_reverted() -> None:
    # Accepted and injected by an operator whose rules were looser; this one cannot read the
    # spec. Nothing more is planned from it, and what the run recorded is reverted. Through
    # the timer's own tick (its Events posted here instead of through kopf).
    sc = scene([LOAD])
    (action,) = shell.plan(sc.rt, sc.ctx, Intent.INJECT, sc.deployment())
    applied = replace(action, state=ActionState.APPLIED)
    sc.write(shell.record(sc.rt, sc.ctx, INJECTED, applied))
    sc.kube.jobs[(NS, action.detail["job"])] = action.detail["manifest"]
    sc.kube.scenarios[(NS, sc.scenario.name)]["spec"]["faults"][0]["trafficSpike"]["rps"] = 0
    posted: list[tuple[str, str]] = []
    scenario_tick.tick(
        sc.rt, NS, sc.scenario.name, sc.log, lambda _raw, t, r, _m: posted.append((t, r))
    )
    status = parse_status(sc.stored_status())
    assert (status.phase, status.reason) == (Phase.FAILED, engine.SPEC_UNREADABLE)
    assert "spec.faults[0].trafficSpike.rps" in status.message
    assert (NS, action.detail["job"]) not in sc.kube.jobs
    assert status.live_actions == ()
    assert ("Warning", engine.SPEC_UNREADABLE) in posted


def test_an_injector_that_exits_with_an_error_fails_the_run_before_remediation() -> None:
    # Seen on the cluster: a netem injector exited 2 (tc refused its rule) while its action
    # stayed Applied, and the game day went on measuring a fault that was not there.
    sc = scene([NETEM], pods=["web-a"])
    status = execute(sc, Intent.INJECT, INJECTED)
    (action,) = status.actions
    container = action.detail["container"]
    sc.kube.set_ephemeral_state(NS, "web-a", container, "running")
    assert tick(sc).phase is Phase.INJECTING  # running: all is well
    tc = "Error: Specified qdisc kind is unknown."
    sc.kube.set_ephemeral_state(NS, "web-a", container, "terminated", exitCode=2, message=tc)
    status = tick(sc)
    said = f"a fault did not take effect: injector {container} in web-a exited 2: {tc}"
    assert (status.phase, status.reason, status.message) == (Phase.FAILED, "InjectorFailed", said)
    injected = status.condition("FaultsInjected")
    assert injected is not None and (injected.status, injected.reason) == (
        "False",
        "InjectorFailed",
    )
    assert ("Warning", "InjectorFailed", said) in sc.events


def test_an_injector_that_ran_its_course_or_was_oom_killed_is_no_failure() -> None:
    for code in (0, 137):
        sc = scene([NETEM], pods=["web-a"])
        (action,) = execute(sc, Intent.INJECT, INJECTED).actions
        sc.kube.set_ephemeral_state(
            NS, "web-a", action.detail["container"], "terminated", exitCode=code
        )
        assert tick(sc).phase is Phase.INJECTING, code
