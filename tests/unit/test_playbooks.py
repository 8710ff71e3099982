"""Remediation playbooks: parsing, the default playbook per architecture (what the remediation
always did), planning one stage at a time, the engine playing the stages in order, and what is
refused at accept because only the target can tell."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gameday_operator import engine, remediation, shell
from gameday_operator.engine import Intent, RolloutState, Workload
from gameday_operator.model import (
    Action,
    ActionState,
    HpaBounds,
    MonolithRemediation,
    OnFailure,
    Phase,
    PlaybookStep,
    RolloutStep,
    RolloutStrategy,
    ScaleStep,
    SetConfigStep,
    SpecError,
    StepKind,
    parse_spec,
    parse_status,
)
from gameday_operator.model.status import Status, StepRecord
from gameday_operator.model.target import Planning, read_target
from tests.unit.fake_kube import DB as DB_FAULT
from tests.unit.fake_kube import NS, Scene, scene
from tests.unit.fake_kube import deployment as fake_deployment
from tests.unit.test_op_engine import BLOCKED, UNSCHEDULABLE, at, injected, scenario, tick
from tests.unit.test_op_model import minimal

MSA = {"architecture": "msa", "deployment": "order"}
DB = {
    "type": "DBSlowQuery",
    "dbSlowQuery": {
        "mode": "DropIndex",
        "table": "orders",
        "index": "orders_idx",
        "databaseSecretRef": {"name": "d", "key": "k"},
    },
}


def deployment() -> dict[str, Any]:
    """The fake target as the API server returns it (with its uid)."""
    d = fake_deployment()
    d["metadata"]["uid"] = "uid-web"
    return d


def steps(*given: dict[str, Any]) -> dict[str, Any]:
    return {"after": "20s", "steps": list(given)}


# ------------------------------------------------------------------------------- parsing


def test_each_step_kind_parses_with_its_defaults() -> None:
    spec = parse_spec(
        minimal(
            faults=[DB],
            remediation=steps(
                {"kind": "Resize", "resize": {"cpuFactor": 3, "maxCpu": "2"}},
                {"kind": "Scale", "scale": {"replicas": 3}},
                {"kind": "Scale", "scale": {"hpa": {"minReplicas": 5}}, "withPrevious": True},
                {"kind": "Rollout", "rollout": {"strategy": "Recreate"}, "onFailure": "Continue"},
                {"kind": "Rollout", "rollout": {"maxUnavailable": 1}},
                {"kind": "RestoreDatabase"},
                {"kind": "SetConfig", "setConfig": {"name": "CACHE_ENABLED", "value": ""}},
            ),
        )
    )
    got = spec.remediation.steps
    assert [s.kind for s in got] == [
        StepKind.RESIZE,
        StepKind.SCALE,
        StepKind.SCALE,
        StepKind.ROLLOUT,
        StepKind.ROLLOUT,
        StepKind.RESTORE_DATABASE,
        StepKind.SET_CONFIG,
    ]
    resize = got[0].settings
    assert isinstance(resize, MonolithRemediation)
    assert (resize.cpu_factor, resize.memory_factor, str(resize.max_cpu)) == (3, 2, "2")
    assert got[1].settings == ScaleStep(replicas=3)
    assert got[2].settings == ScaleStep(hpa=HpaBounds(5, None, 60)) and got[2].with_previous
    assert got[3].settings == RolloutStep(RolloutStrategy.RECREATE, 1, 0)
    assert got[4].settings == RolloutStep(RolloutStrategy.ROLLING, 1, 1)
    assert got[6].settings == SetConfigStep("CACHE_ENABLED", "")
    assert [s.on_failure for s in got] == [OnFailure.ABORT] * 3 + [OnFailure.CONTINUE] + [
        OnFailure.ABORT
    ] * 3
    # Given steps are the playbook, whatever the architecture.
    assert spec.remediation.playbook(spec.target.architecture) == got


@pytest.mark.parametrize(
    ("remediation", "faults", "words"),
    [
        (steps(), None, "must list at least one step"),
        (steps(*[{"kind": "RestoreDatabase"}] * 9), [DB], "at most 8 steps"),
        (
            {**steps({"kind": "Rollout", "rollout": {}}), "monolith": {}},
            None,
            "remediation.steps replaces remediation.monolith and remediation.msa",
        ),
        (
            {**steps({"kind": "Rollout", "rollout": {}}), "mode": "None"},
            None,
            "steps applies only to modes Auto and Manual",
        ),
        (
            steps({"kind": "RestoreDatabase"}),
            None,
            "RestoreDatabase needs a DBSlowQuery fault to end early",
        ),
        (
            steps({"kind": "Rollout", "rollout": {}, "withPrevious": True}),
            None,
            "cannot start with a previous step",
        ),
        (
            steps({"kind": "Scale", "rollout": {}}),
            None,
            "a step carries the block of its kind and only that block",
        ),
        (
            steps({"kind": "RestoreDatabase", "scale": {"replicas": 1}}),
            [DB],
            "a step carries the block of its kind and only that block",
        ),
        (
            steps({"kind": "Scale", "scale": {"replicas": 2, "hpa": {}}}),
            None,
            "scale takes exactly one of replicas or hpa",
        ),
        (steps({"kind": "Scale", "scale": {}}), None, "scale takes exactly one of replicas or hpa"),
        (
            steps({"kind": "Scale", "scale": {"hpa": {"minReplicas": 5, "maxReplicas": 2}}}),
            None,
            "scale.hpa.maxReplicas must be at least minReplicas",
        ),
        (
            steps({"kind": "Rollout", "rollout": {"strategy": "Recreate", "maxUnavailable": 1}}),
            None,
            "rollout.maxSurge and maxUnavailable apply only to strategy Rolling",
        ),
        (
            steps({"kind": "Rollout", "rollout": {"maxSurge": 0}}),
            None,
            "rollout.maxSurge and maxUnavailable cannot both be 0",
        ),
        (
            steps({"kind": "SetConfig", "setConfig": {"name": "1BAD", "value": "x"}}),
            None,
            "must be an environment variable name",
        ),
        (
            steps({"kind": "SetConfig", "setConfig": {"name": "X"}}),
            None,
            "setConfig.value must be a string",
        ),
        (
            steps(
                {"kind": "Scale", "scale": {"replicas": 3}},
                {"kind": "Rollout", "rollout": {}, "withPrevious": True, "onFailure": "Abort"},
            ),
            None,
            "onFailure is set on the first step of a stage; a step withPrevious shares it",
        ),
        (
            steps({"kind": "Rollout", "rollout": {}, "onFailure": "Retry"}),
            None,
            "onFailure must be one of Abort, Continue",
        ),
    ],
)
def test_a_playbook_that_does_not_read_is_refused_naming_why(
    remediation: dict[str, Any], faults: list[dict[str, Any]] | None, words: str
) -> None:
    raw = minimal(remediation=remediation)
    if faults is not None:
        raw["faults"] = faults
    with pytest.raises(SpecError) as refused:
        parse_spec(raw)
    assert words in str(refused.value)


# ------------------------------------------------------------------ defaults per architecture


def test_the_monolith_default_is_one_resize_step_from_the_monolith_block() -> None:
    spec = parse_spec(minimal(remediation={"monolith": {"cpuFactor": 3, "rollout": "Recreate"}}))
    (only,) = spec.remediation.playbook(spec.target.architecture)
    assert only == PlaybookStep(StepKind.RESIZE, spec.remediation.monolith)


def test_the_msa_default_scales_the_hpa_and_rolls_with_it() -> None:
    msa = {"minReplicas": 3, "maxReplicas": 5, "targetCPUUtilization": 70, "maxSurge": 2}
    spec = parse_spec(minimal(target=MSA, remediation={"msa": msa}))
    scale, roll = spec.remediation.playbook(spec.target.architecture)
    assert scale == PlaybookStep(StepKind.SCALE, ScaleStep(hpa=HpaBounds(3, 5, 70)))
    assert roll == PlaybookStep(
        StepKind.ROLLOUT, RolloutStep(RolloutStrategy.ROLLING, 2, 0), with_previous=True
    )
    # One stage: both started at once and waited for together, as they always were.
    assert engine.stages((scale, roll)) == ((0, 1),)


def test_stages_group_a_step_with_those_that_start_with_it() -> None:
    step = PlaybookStep(StepKind.RESTORE_DATABASE, ScaleStep())
    along = replace(step, with_previous=True)
    assert engine.stages((step, along, step, step, along, along)) == ((0, 1), (2,), (3, 4, 5))


# ------------------------------------------------------------------------------ planning


def test_the_default_playbooks_plan_the_ids_the_remediation_always_recorded() -> None:
    mono = scene(pods=["web-a"], remediation={"after": "20s", "monolith": {"inPlaceResize": True}})
    planning = _planning(mono)
    assert [a.id for a in remediation.plan_remediation(planning, (0,))] == [
        "r-podresize-web-a",
        "r-resize",
    ]
    msa = scene(architecture="msa")
    assert [(a.kind, a.id) for a in remediation.plan_remediation(_planning(msa), (0, 1))] == [
        ("HPAScaleOut", "r-hpa"),
        ("RollingUpdate", "r-rollout"),
    ]


def test_a_playbook_plans_one_stage_at_a_time_with_ids_by_position() -> None:
    played = scene(
        remediation=steps(
            {"kind": "Scale", "scale": {"replicas": 4}},
            {"kind": "SetConfig", "setConfig": {"name": "CACHE_ENABLED", "value": "true"}},
            {"kind": "Rollout", "rollout": {"strategy": "Recreate"}, "withPrevious": True},
        )
    )
    planning = _planning(played)
    first = remediation.plan_remediation(planning, (0,))
    assert [(a.id, a.kind, a.detail, a.previous) for a in first] == [
        ("r0-scale", "Scale", {"replicas": 4}, {"replicas": 2})
    ]
    second = remediation.plan_remediation(planning, (1, 2))
    assert [(a.id, a.kind) for a in second] == [
        ("r1-setconfig", "SetConfig"),
        ("r2-rollout", "Recreate"),
    ]
    setting, recreate = second
    assert setting.detail["name"] == "CACHE_ENABLED" and setting.detail["value"] == "true"
    assert setting.previous == {"value": "false", "restartedAt": None}
    assert recreate.detail["strategy"]["type"] == "Recreate"


def _planning(sc: Scene) -> Planning:
    d = sc.deployment()
    assert d is not None
    return Planning(
        scenario=sc.scenario,
        config=sc.rt.config,
        target=read_target(
            d,
            sc.kube.list_replica_sets(NS, "app=web"),
            sc.kube.list_pods(NS, "app=web"),
            sc.kube.get_hpa(NS, "web"),
        ),
        now=at(0),
        started_at=at(0),
    )


# --------------------------------------------------------------------- the engine plays it


def played_scenario() -> Any:
    return scenario(
        remediation=steps(
            {"kind": "Scale", "scale": {"replicas": 4}},
            {"kind": "Rollout", "rollout": {"strategy": "Recreate"}},
        )
    )


def test_the_engine_plays_the_stages_in_order_each_waiting_for_its_effect() -> None:
    sc = played_scenario()
    pods = Workload(desired_replicas=2, ready_replicas=2, pod_cpu_cores=0.1, pod_memory_mib=64)
    started = tick(sc, injected(sc), 20, workload=pods)
    assert started.status.phase is Phase.REMEDIATING
    assert started.intents == (Intent.REMEDIATE,)
    assert [(r.index, r.kind, r.started_at) for r in started.status.steps] == [(0, "Scale", at(20))]
    assert engine.current_stage_indices(sc, started.status) == (0,)
    # The scale is applied; two of four ready: the first step has not taken effect.
    scaling = replace(pods, desired_replicas=4)
    waiting = tick(sc, started.status, 25, workload=scaling)
    assert waiting.intents == () and waiting.status.message.startswith("step 1/2: rollout")
    # Four ready: the second step starts, its changes asked for.
    scaled = replace(scaling, ready_replicas=4)
    second = tick(sc, waiting.status, 30, workload=scaled)
    assert second.status.phase is Phase.REMEDIATING
    assert second.intents == (Intent.REMEDIATE,)
    first, rollout = second.status.steps
    assert (first.finished_at, rollout.index, rollout.started_at) == (at(30), 1, at(30))
    assert first.added is not None
    assert (first.added.pods, first.added.cpu_cores, first.added.memory_mib) == (2, 0.2, 128)
    assert engine.current_stage_indices(sc, second.status) == (1,)
    assert [e.reason for e in second.events] == ["StepComplete", "StepStarted"]
    done = tick(sc, second.status, 40, workload=scaled)
    assert done.status.phase is Phase.VERIFYING
    assert done.status.steps[1].finished_at == at(40)
    assert done.status.measurements.remediation_seconds == 20


def test_a_restart_between_two_steps_goes_on_from_the_status() -> None:
    sc = played_scenario()
    pods = Workload(desired_replicas=4, ready_replicas=4)
    first = tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2))
    second = tick(sc, first.status, 30, workload=pods)
    # What a restarted operator reads back: the status as it was written.
    reread = Status.from_dict(second.status.to_dict())
    assert reread.steps == second.status.steps
    again = tick(sc, reread, 31, workload=replace(pods, ready_replicas=3))
    # Nothing is started twice: the second step waits for its own effect.
    assert again.intents == () and len(again.status.steps) == 2
    assert engine.current_stage_indices(sc, again.status) == (1,)


def test_a_restore_database_step_reverts_the_database_faults_until_none_is_live() -> None:
    sc = scenario(faults=[DB], remediation=steps({"kind": "RestoreDatabase"}))
    st = injected(sc).with_action(
        Action(id="f0-db", at=at(0), kind="DBJob", target="job/x", state=ActionState.APPLIED)
    )
    started = tick(sc, st, 20)
    assert started.intents == (Intent.RESTORE_DATABASE,)
    still = tick(sc, started.status, 25)
    assert still.intents == (Intent.RESTORE_DATABASE,)
    assert "restoring the database" in still.status.message
    restored = started.status.with_action(
        replace(started.status.actions[-1], state=ActionState.REVERTED)
    )
    done = tick(sc, restored, 30)
    assert done.status.phase is Phase.VERIFYING and done.intents == ()


def test_a_default_playbook_says_what_the_remediation_always_said() -> None:
    sc = scenario()
    started = tick(sc, injected(sc), 20)
    assert [(e.reason, e.message) for e in started.events] == [
        ("SteadyStateBreached", "degraded by time: 20s after injection"),
        ("RemediationStarted", "vertical resize and full rollout of shop"),
    ]
    done = tick(sc, started.status, 30)
    assert [e.reason for e in done.events] == ["RemediationComplete"]


# ------------------------------------------------------------------------- at accept


@pytest.mark.parametrize(
    ("step", "hpa", "words"),
    [
        (
            {"kind": "Resize", "resize": {"maxCpu": "300m"}},
            False,
            "resize.maxCpu 300m is below the container's limits.cpu 500m",
        ),
        (
            {"kind": "Scale", "scale": {"replicas": 3}},
            True,
            "horizontalpodautoscaler/web owns the replica count",
        ),
        (
            {"kind": "SetConfig", "setConfig": {"name": "REDIS_URL", "value": "x"}},
            False,
            "container app has no environment variable REDIS_URL",
        ),
    ],
)
def test_a_step_the_target_cannot_take_is_refused_at_accept(
    step: dict[str, Any], hpa: bool, words: str
) -> None:
    sc = scenario(remediation=steps(step))
    sc = replace(sc, spec=replace(sc.spec, target=replace(sc.spec.target, deployment="web")))
    found = read_target(deployment(), hpa={"spec": {"maxReplicas": 3}} if hpa else None)
    problems = remediation.playbook_problems(sc, found)
    assert len(problems) == 1 and words in problems[0], problems
    assert problems[0].startswith("spec.remediation.steps[0] (")


def test_an_hpa_step_needs_a_cpu_request_to_measure_utilization() -> None:
    sc = scenario(remediation=steps({"kind": "Scale", "scale": {"hpa": {"minReplicas": 3}}}))
    d = deployment()
    fits = remediation.playbook_problems(sc, read_target(d))
    del d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    (problem,) = remediation.playbook_problems(sc, read_target(d))
    assert fits == [] and "requests no CPU" in problem


def test_the_default_playbook_is_never_refused_at_accept() -> None:
    sc = scenario(remediation={"monolith": {"maxCpu": "50m"}})
    assert remediation.playbook_problems(sc, read_target(deployment())) == []


# ------------------------------------------------- the shell, against the in-memory adapter


def shell_execute(sc: Scene, intent: Intent, status: Status) -> Status:
    target = sc.deployment()
    return shell.execute(sc.rt, sc.ctx, status, intent, target, sc.write, sc.emit, sc.log)


def started(status: Status, *indices: int) -> Status:
    """`status` with the steps at `indices` recorded as started, as the engine records them."""
    records = tuple(StepRecord(n, "", at(20)) for n in indices)
    return replace(status, phase=Phase.REMEDIATING, steps=(*status.steps, *records))


def test_each_stage_is_applied_when_started_and_the_playbook_reverted_newest_first() -> None:
    sc = scene(
        remediation=steps(
            {"kind": "Scale", "scale": {"replicas": 3}},
            {"kind": "SetConfig", "setConfig": {"name": "CACHE_ENABLED", "value": "true"}},
            {"kind": "Rollout", "rollout": {"strategy": "Recreate"}},
        )
    )
    before = sc.kube.get_deployment(NS, "web")
    assert before is not None
    status = shell_execute(sc, Intent.REMEDIATE, started(Status(), 0))
    assert [(a.id, a.state) for a in status.actions] == [("r0-scale", ActionState.APPLIED)]
    d = sc.kube.get_deployment(NS, "web")
    assert d is not None and d["spec"]["replicas"] == 3
    status = shell_execute(sc, Intent.REMEDIATE, started(status, 1))
    status = shell_execute(sc, Intent.REMEDIATE, started(status, 2))
    assert [a.id for a in status.actions] == ["r0-scale", "r1-setconfig", "r2-rollout"]
    d = sc.kube.get_deployment(NS, "web")
    assert d is not None
    (app,) = d["spec"]["template"]["spec"]["containers"]
    assert app["env"] == [{"name": "CACHE_ENABLED", "value": "true"}]
    assert d["spec"]["strategy"]["type"] == "Recreate"
    # A stage asked for again (a tick repeated after a restart) records and applies nothing.
    assert shell_execute(sc, Intent.REMEDIATE, status).actions == status.actions
    status = shell_execute(sc, Intent.REVERT_ALL, status)
    assert {a.state for a in status.actions} == {ActionState.REVERTED}
    after = sc.kube.get_deployment(NS, "web")
    assert after is not None
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    assert after["spec"]["strategy"] == before["spec"]["strategy"]
    assert after["spec"]["template"]["spec"] == before["spec"]["template"]["spec"]


def test_a_restore_database_step_reverts_the_fault_once_its_restore_completed() -> None:
    sc = scene([DB_FAULT], remediation=steps({"kind": "RestoreDatabase"}))
    status = shell_execute(sc, Intent.INJECT, Status(phase=Phase.INJECTING))
    (fault,) = status.actions
    status = shell_execute(sc, Intent.RESTORE_DATABASE, started(status, 0))
    # The restore Job runs: the fault stays live, and the status says where it stands.
    (fault,) = status.actions
    assert fault.state is ActionState.APPLIED and "has not completed yet" in (
        fault.revert_progress or ""
    )
    restore = fault.detail["restore"]["metadata"]["name"]
    sc.kube.jobs[(NS, restore)]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    status = shell_execute(sc, Intent.RESTORE_DATABASE, status)
    (fault,) = status.actions
    assert fault.state is ActionState.REVERTED and fault.revert_progress is None
    assert engine.live_database_faults(status) == ()
    # ...and recorded so: a restarted operator reads it back from the cluster.
    assert parse_status(sc.stored_status()).actions[0].state is ActionState.REVERTED


# ------------------------------------------------------------- a step whose effect cannot come


def resize_or_else(on_failure: str = "Continue") -> Any:
    """A resize that may not fit the node, then a scale-out."""
    return scenario(
        remediation=steps(
            {
                "kind": "Resize",
                "resize": {"cpuFactor": 16, "maxCpu": "64"},
                "onFailure": on_failure,
            },
            {"kind": "Scale", "scale": {"replicas": 4}},
        )
    )


def resized(status: Status, state: ActionState = ActionState.APPLIED) -> Status:
    """`status` with the first step's change recorded, as the shell records it."""
    return status.with_action(
        Action(
            id="r0-resize", at=at(20), kind="VerticalResize", target="deployment/shop", state=state
        )
    )


def test_a_step_set_to_continue_is_undone_and_the_next_step_starts() -> None:
    sc = resize_or_else()
    st = resized(
        tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2)).status
    )
    st = tick(sc, st, 30, workload=BLOCKED).status
    assert st.phase is Phase.REMEDIATING and st.message.startswith("rollout blocked for 0s")
    # Held for the limit: the step fails, says why, and its change is to be undone.
    failed = tick(sc, st, 30 + engine.ROLLOUT_BLOCKED_LIMIT_SECONDS, workload=BLOCKED)
    assert failed.status.phase is Phase.REMEDIATING
    assert failed.intents == (Intent.UNDO_STAGE,)
    (record,) = failed.status.steps
    assert record.failed_at == at(90) and record.finished_at is None
    assert record.failure == f"the rollout was blocked for 60s: {UNSCHEDULABLE[0]}"
    (warning,) = [e for e in failed.events if e.type == "Warning"]
    assert warning.reason == "StepFailed" and "Insufficient cpu" in warning.message
    assert "Resize (step 1) of 2 failed" in warning.message
    stalled = failed.status.condition("Stalled")
    assert stalled is not None and (stalled.status, stalled.reason) == ("False", "StepFailed")
    assert [a.id for a in engine.failed_stage_actions(sc, failed.status)] == ["r0-resize"]
    # Asked again at every tick while the change is live.
    again = tick(sc, failed.status, 95, workload=BLOCKED)
    assert again.intents == (Intent.UNDO_STAGE,) and "undoing its 1 change" in again.status.message
    # Undone, and the Deployment rolling back: the next step waits for it.
    undone = replace(
        failed.status,
        actions=tuple(replace(a, state=ActionState.REVERTED) for a in failed.status.actions),
    )
    rolling = Workload(desired_replicas=2, ready_replicas=1, rollout=RolloutState.PROGRESSING)
    back = tick(sc, undone, 100, workload=rolling)
    assert back.intents == () and "failed and undone; rolling back: 1/2" in back.status.message
    # Back as it was: the scale-out starts.
    going = tick(sc, back.status, 105, workload=Workload(desired_replicas=2, ready_replicas=2))
    assert going.intents == (Intent.REMEDIATE,)
    assert [(r.index, r.kind) for r in going.status.steps] == [(0, "Resize"), (1, "Scale")]
    assert engine.current_stage_indices(sc, going.status) == (1,)
    assert engine.failed_stage_actions(sc, going.status) == ()
    done = tick(sc, going.status, 120, workload=Workload(desired_replicas=4, ready_replicas=4))
    assert done.status.phase is Phase.VERIFYING
    remediated = done.status.condition("Remediated")
    assert remediated is not None and (remediated.status, remediated.reason) == (
        "True",
        "StepsFailed",
    )
    assert "1 step(s) failed and undone (Resize (step 1))" in remediated.message
    # What a restarted operator reads back says the same.
    assert Status.from_dict(done.status.to_dict()).steps == done.status.steps


def test_a_step_set_to_abort_fails_the_run_as_before() -> None:
    sc = resize_or_else("Abort")
    st = resized(
        tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2)).status
    )
    st = tick(sc, st, 30, workload=BLOCKED).status
    ended = tick(sc, st, 30 + engine.ROLLOUT_BLOCKED_LIMIT_SECONDS, workload=BLOCKED)
    assert ended.status.phase is Phase.FAILED and ended.status.reason == "RolloutBlocked"
    assert ended.intents == (Intent.REVERT_ALL,)
    assert ended.status.steps[0].failed_at is None


def test_a_rollout_past_its_deadline_fails_a_continuing_step_at_once() -> None:
    sc = resize_or_else()
    st = resized(
        tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2)).status
    )
    deadline = Workload(
        desired_replicas=2,
        ready_replicas=1,
        rollout=RolloutState.FAILED,
        rollout_message="rollout exceeded its progress deadline",
    )
    failed = tick(sc, st, 30, workload=deadline)
    assert failed.intents == (Intent.UNDO_STAGE,)
    assert failed.status.steps[0].failure == "rollout exceeded its progress deadline"


def test_a_deployment_that_cannot_roll_back_from_a_failed_step_fails_the_run() -> None:
    sc = resize_or_else()
    st = resized(
        tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2)).status
    )
    st = tick(sc, st, 30, workload=BLOCKED).status
    st = tick(sc, st, 90, workload=BLOCKED).status
    undone = replace(st, actions=tuple(replace(a, state=ActionState.REVERTED) for a in st.actions))
    # The undo's own rollout is blocked: for the limit, and then the run fails.
    st = tick(sc, undone, 95, workload=BLOCKED).status
    assert st.phase is Phase.REMEDIATING
    ended = tick(sc, st, 95 + engine.ROLLOUT_BLOCKED_LIMIT_SECONDS, workload=BLOCKED)
    assert ended.status.phase is Phase.FAILED and ended.status.reason == "RolloutBlocked"


def test_the_last_step_failing_leaves_the_verdict_to_the_slo() -> None:
    sc = scenario(
        remediation=steps(
            {"kind": "Resize", "resize": {"cpuFactor": 16, "maxCpu": "64"}, "onFailure": "Continue"}
        )
    )
    st = resized(
        tick(sc, injected(sc), 20, workload=Workload(desired_replicas=2, ready_replicas=2)).status
    )
    st = tick(sc, st, 30, workload=BLOCKED).status
    st = tick(sc, st, 90, workload=BLOCKED).status
    undone = replace(st, actions=tuple(replace(a, state=ActionState.REVERTED) for a in st.actions))
    verifying = tick(sc, undone, 95, workload=Workload(desired_replicas=2, ready_replicas=2))
    assert verifying.status.phase is Phase.VERIFYING
    assert verifying.status.steps[0].failed_at == at(90)


def test_the_shell_undoes_only_the_failed_stage_changes() -> None:
    sc = scene(
        remediation=steps(
            {"kind": "Scale", "scale": {"replicas": 3}},
            {
                "kind": "SetConfig",
                "setConfig": {"name": "CACHE_ENABLED", "value": "true"},
                "onFailure": "Continue",
            },
        )
    )
    status = shell_execute(sc, Intent.REMEDIATE, started(Status(), 0))
    status = shell_execute(sc, Intent.REMEDIATE, started(status, 1))
    assert [a.id for a in status.live_actions] == ["r0-scale", "r1-setconfig"]
    failing = replace(
        status,
        steps=tuple(
            replace(r, failed_at=at(90), failure="blocked") if r.index == 1 else r
            for r in status.steps
        ),
    )
    undone = shell_execute(sc, Intent.UNDO_STAGE, failing)
    assert [(a.id, a.state) for a in undone.actions] == [
        ("r0-scale", ActionState.APPLIED),
        ("r1-setconfig", ActionState.REVERTED),
    ]
    d = sc.kube.get_deployment(NS, "web")
    assert d is not None and d["spec"]["replicas"] == 3
    (app,) = d["spec"]["template"]["spec"]["containers"]
    assert app["env"] == [{"name": "CACHE_ENABLED", "value": "false"}]
    # ...and recorded so, for a restarted operator.
    assert [a["state"] for a in sc.stored_status()["actions"]] == ["Applied", "Reverted"]
