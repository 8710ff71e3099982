"""A deleted scenario (`scenario_delete.handle`) against the fake cluster: its changes are
reverted before it goes; a revert that fails holds the deletion and is retried, until the
namespace is terminating or the revert has failed for GAMEDAY_REVERT_TIMEOUT, when the
deletion goes on with a Warning that says what may remain."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

import kopf
import pytest

from gameday_operator import scenario_delete, shell
from gameday_operator.engine import Intent
from gameday_operator.model import JsonDict, Phase, Status, format_time, parse_status
from tests.unit.fake_kube import NS, STRESS, Scene, exec_refused, scene

LOG = logging.getLogger("test")


def stress_running(sc: Scene) -> str:
    """A stress container injected and running in web-a; its recorded action, as a Warning
    names it."""
    status = shell.execute(
        sc.rt,
        sc.ctx,
        Status(phase=Phase.INJECTING),
        Intent.INJECT,
        sc.deployment(),
        sc.write,
        sc.emit,
        sc.log,
    )
    (action,) = status.actions
    sc.kube.set_ephemeral_state(NS, "web-a", action.detail["container"], "running")
    return f"{action.kind} on {action.target}"


def refuse_every_exec(sc: Scene) -> None:
    # What the API server answers once the operator lost its rights in the namespace.
    def refused(_: str, __: str, ___: str, ____: list[str]) -> str:
        raise exec_refused(403, 'pods "web-a" is forbidden: cannot create resource pods/exec')

    sc.kube.exec_handler = refused


def delete(
    sc: Scene, monkeypatch: pytest.MonkeyPatch, ago: timedelta
) -> list[tuple[str, str, str]]:
    """Runs the delete handler on the scenario, deleted `ago`; the Events it emitted."""
    events: list[tuple[str, str, str]] = []

    def event(_: object, *, type: str, reason: str, message: str) -> None:
        events.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", event)
    stored: JsonDict = sc.kube.scenarios[(NS, sc.scenario.name)]
    stored["metadata"]["deletionTimestamp"] = format_time(shell.utcnow() - ago)
    body = kopf.Body(cast(kopf.RawBody, stored))
    scenario_delete.handle(sc.rt, body, LOG)
    return events


def test_a_revert_that_fails_holds_the_deletion_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene([STRESS], pods=["web-a"])
    stress_running(sc)
    refuse_every_exec(sc)
    with pytest.raises(kopf.TemporaryError, match=r"revert incomplete: .*forbidden"):
        delete(sc, monkeypatch, ago=timedelta(seconds=30))
    (live,) = parse_status(sc.stored_status()).live_actions
    assert "forbidden" in (live.error or "")


@pytest.mark.parametrize(
    ("terminating", "ago", "why"),
    [
        (True, timedelta(seconds=5), "the namespace is being deleted"),
        (False, timedelta(minutes=6), "the revert kept failing for 6m"),
    ],
    ids=["namespace terminating", "past GAMEDAY_REVERT_TIMEOUT"],
)
def test_a_revert_that_can_never_succeed_lets_the_deletion_go_on_and_says_what_may_remain(
    monkeypatch: pytest.MonkeyPatch, terminating: bool, ago: timedelta, why: str
) -> None:
    sc = scene([STRESS], pods=["web-a"])
    recorded = stress_running(sc)
    refuse_every_exec(sc)
    if terminating:
        sc.kube.namespaces[NS]["metadata"]["deletionTimestamp"] = format_time(shell.utcnow())
    events = delete(sc, monkeypatch, ago=ago)  # returns: the finalizer may go
    warnings = [(r, m) for t, r, m in events if t == "Warning"]
    assert warnings[-1][0] == "RevertAbandoned", events
    assert why in warnings[-1][1]
    assert f"these may remain: {recorded}" in warnings[-1][1]


def test_a_revert_that_succeeds_lets_the_deletion_go_on_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scene([STRESS], pods=["web-a"])
    stress_running(sc)
    # Told to stop, the injector counts as reverted once its container is seen terminated:
    # at the handler's next call.
    with pytest.raises(kopf.TemporaryError, match="told to stop"):
        delete(sc, monkeypatch, ago=timedelta(seconds=1))
    events = delete(sc, monkeypatch, ago=timedelta(seconds=3))
    assert [r for _, r, _ in events] == ["Reverted"], events
    assert parse_status(sc.stored_status()).live_actions == ()
