"""A new scenario is accepted or rejected (`scenario_create.accept`) against the fake cluster:
what only the cluster can tell about the Services a scenario names is checked before anything
is claimed or injected."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import kopf
import pytest

from gameday_operator import scenario_create
from gameday_operator.config import Config
from gameday_operator.metrics import OperatorMetrics
from gameday_operator.model import Scenario
from gameday_operator.model.enums import JsonDict
from gameday_operator.observation import Observation
from gameday_operator.runtime import Runtime
from tests.unit.fake_kube import NS, FakeKube, deployment, pod, replica_set, scenario_body


@dataclass
class Outcome:
    """What accepting one scenario left: its stored status and the Events it emitted."""

    kube: FakeKube
    status: JsonDict
    events: list[tuple[str, str, str]]

    @property
    def accepted(self) -> JsonDict:
        return next(c for c in self.status["conditions"] if c["type"] == "Accepted")


def accept(
    monkeypatch: pytest.MonkeyPatch,
    faults: list[JsonDict],
    services: Callable[[FakeKube], Any],
    **config: Any,
) -> Outcome:
    """Runs the create handler on a new scenario with `faults` against target web in NS, with
    the Services `services` adds."""
    kube = FakeKube()
    kube.add_namespace(NS, {"gameday.io/enabled": "true"})
    target = kube.add_deployment(NS, deployment())
    kube.add_replica_set(NS, replica_set(target))
    kube.add_pod(NS, pod("web-a"))
    services(kube)
    body = scenario_body(faults)
    del body["status"]
    kube.add_scenario(body)
    events: list[tuple[str, str, str]] = []

    def event(_: object, *, type: str, reason: str, message: str) -> None:
        events.append((type, reason, message))

    def no_observation(_: Scenario, __: datetime) -> Observation | None:
        return None

    monkeypatch.setattr(kopf, "event", event)
    rt = Runtime(Config(**config), kube, no_observation, metrics=OperatorMetrics())
    # A rejection raises PermanentError; what it says is in the status and the Events.
    with contextlib.suppress(kopf.PermanentError):
        scenario_create.accept(rt, kopf.Body(cast(kopf.RawBody, body)), logging.getLogger("test"))
    stored = kube.scenarios[(NS, "gd")]
    return Outcome(kube, stored["status"], events)


def proxy_admin(url: str) -> JsonDict:
    return {
        "type": "NetworkLatency",
        "networkLatency": {"latency": "900ms", "mechanism": "Proxy", "proxyAdmin": url},
    }


def load_url(url: str) -> JsonDict:
    return {"type": "TrafficSpike", "trafficSpike": {"url": url, "rps": 5}}


def external_name(kube: FakeKube) -> None:
    # The audit's bypass: an alias, in the scenario's own namespace, of another namespace's
    # latency proxy.
    kube.add_service(
        NS,
        "x",
        [15000],
        type_="ExternalName",
        external_name="db-latency-admin.victim.svc.cluster.local",
    )


def no_selector(kube: FakeKube) -> None:
    # Its endpoints are written by hand: here the operator's Prometheus, or any pod anywhere.
    kube.add_service(NS, "x", [9090], selector={})


def proxy_service(kube: FakeKube) -> None:
    kube.add_service(NS, "x", [15000])


# (case, faults, the Services in NS, the reason, words of the message)
REFUSED: list[tuple[str, list[JsonDict], Callable[[FakeKube], Any], str, str]] = [
    (
        "proxy behind an ExternalName Service",
        [proxy_admin(f"http://x.{NS}.svc:15000")],
        external_name,
        "ReferenceNotAllowed",
        "Service x is of type ExternalName (an alias of db-latency-admin.victim",
    ),
    (
        "load at a Service without a selector",
        [load_url("http://x:9090/-/quit")],
        no_selector,
        "ReferenceNotAllowed",
        "Service x has no selector",
    ),
    (
        "proxy at a Service that is not there",
        [proxy_admin(f"http://gone.{NS}.svc:15000")],
        proxy_service,
        "ReferenceNotFound",
        "Service gone not found",
    ),
    (
        "proxy at a port its Service does not serve",
        [proxy_admin(f"http://x.{NS}.svc:15001")],
        proxy_service,
        "ReferenceNotFound",
        "Service x has no port 15001 (has 15000)",
    ),
]


@pytest.mark.parametrize(
    ("case", "faults", "services", "reason", "says"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_a_service_that_may_not_be_reached_is_refused_before_anything_is_claimed(
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    faults: list[JsonDict],
    services: Callable[[FakeKube], Any],
    reason: str,
    says: str,
) -> None:
    out = accept(monkeypatch, faults, services)
    assert out.status["phase"] == "Failed", out.status
    assert out.accepted["status"] == "False" and out.accepted["reason"] == reason
    assert says in out.status["message"], out.status["message"]
    assert [(t, r) for t, r, _ in out.events] == [("Warning", reason)]
    assert says in out.events[0][2]
    # Refused before the target was claimed: no Lease, no action, no Job.
    assert out.kube.leases == {} and out.kube.jobs == {}
    assert out.status.get("actions", []) == []


def test_a_service_of_the_namespace_that_selects_its_pods_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = accept(monkeypatch, [proxy_admin(f"http://x.{NS}.svc:15000")], proxy_service)
    assert out.status["phase"] == "Pending", out.status
    assert out.accepted["status"] == "True"
    assert [(t, r) for t, r, _ in out.events] == [("Normal", "Accepted")]
