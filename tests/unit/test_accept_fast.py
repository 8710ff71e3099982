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
from tests.fixtures.faults import load_at, load_url, proxy_admin, proxy_at
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
    steady_state: JsonDict | None = None,
    **config: Any,
) -> Outcome:
    """Runs the create handler on a new scenario with `faults` (and `steady_state`) against
    target web in NS, with the Services `services` adds."""
    kube = FakeKube()
    kube.add_namespace(NS, {"gameday.io/enabled": "true"})
    target = kube.add_deployment(NS, deployment())
    kube.add_replica_set(NS, replica_set(target))
    kube.add_pod(NS, pod("web-a"))
    services(kube)
    body = scenario_body(faults)
    if steady_state is not None:
        body["spec"]["steadyState"] = steady_state
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


def shop_service(kube: FakeKube) -> None:
    kube.add_service(NS, "shop", [80])


def unbound(kube: FakeKube) -> None:
    # Labeled, but nobody ran `make opt-in`: the operator's workload role is not bound there.
    proxy_service(kube)
    kube.unbound.add(NS)


def not_enabled(kube: FakeKube) -> None:
    proxy_service(kube)
    kube.add_namespace(NS, {})


def target_gone(kube: FakeKube) -> None:
    proxy_service(kube)
    kube.deployments.clear()


ALLOWED = "http://allowed.test:8080/orders"

# (case, faults, the Services in NS, the operator's allow-list, the reason, words of the message)
REFUSED: list[tuple[str, list[JsonDict], Callable[[FakeKube], Any], tuple[str, ...], str, str]] = [
    (
        "proxy behind an ExternalName Service",
        [proxy_at("x", 15000)],
        external_name,
        (),
        "ReferenceNotAllowed",
        "Service x is of type ExternalName (an alias of db-latency-admin.victim",
    ),
    (
        "load at a Service without a selector",
        [load_at("x", 9090, "/-/quit")],
        no_selector,
        (),
        "ReferenceNotAllowed",
        "Service x has no selector",
    ),
    (
        "the ExternalName alias named as a URL, as before Services were objects",
        [proxy_admin(f"http://x.{NS}.svc:15000")],
        external_name,
        (),
        "ReferenceNotAllowed",
        f"http://x.{NS}.svc:15000 is not under a URL prefix the operator allows",
    ),
    (
        "another namespace's proxy",
        [proxy_admin("http://db-latency-admin.victim.svc:15000")],
        proxy_service,
        (),
        "ReferenceNotAllowed",
        "instead: networkLatency.proxy",
    ),
    (
        "a Service of the namespace under a foreign domain",
        [load_url(f"http://shop.{NS}.svc.evil.example/-/quit")],
        shop_service,
        (),
        "ReferenceNotAllowed",
        "instead: trafficSpike.target",
    ),
    (
        "a path that climbs out of an allowed prefix",
        [load_url(f"{ALLOWED}/../-/quit")],
        shop_service,
        (ALLOWED,),
        "ReferenceNotAllowed",
        f"GAMEDAY_ALLOWED_URLS: {ALLOWED}",
    ),
    (
        # Stored under an older CRD, which let any path through.
        "a load path with a dot-segment",
        [load_at("shop", 80, "/orders/../-/quit")],
        shop_service,
        (),
        "InvalidSpec",
        "trafficSpike.target.path must not hold . or .. segments",
    ),
    (
        "proxy at a Service that is not there",
        [proxy_at("gone", 15000)],
        proxy_service,
        (),
        "ReferenceNotFound",
        "Service gone not found",
    ),
    (
        "proxy at a port its Service does not serve",
        [proxy_at("x", 15001)],
        proxy_service,
        (),
        "ReferenceNotFound",
        "Service x has no port 15001 (has 15000)",
    ),
    (
        "a namespace where the operator's workload role is not bound",
        [proxy_at("x", 15000)],
        unbound,
        (),
        "NamespaceNotBound",
        f"bind ClusterRole gameday-operator-target there (make opt-in NS={NS}",
    ),
    (
        "a namespace not opted in",
        [proxy_at("x", 15000)],
        not_enabled,
        (),
        "NamespaceNotEnabled",
        f'namespace {NS} is not labeled gameday.io/enabled="true"',
    ),
    (
        "a target that is not there",
        [proxy_at("x", 15000)],
        target_gone,
        (),
        "TargetNotFound",
        f"Deployment {NS}/web not found",
    ),
]


@pytest.mark.parametrize(
    ("case", "faults", "services", "allowed", "reason", "says"),
    REFUSED,
    ids=[r[0] for r in REFUSED],
)
def test_what_may_not_be_reached_is_refused_before_anything_is_claimed(
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    faults: list[JsonDict],
    services: Callable[[FakeKube], Any],
    allowed: tuple[str, ...],
    reason: str,
    says: str,
) -> None:
    out = accept(monkeypatch, faults, services, allowed_urls=allowed)
    assert out.status["phase"] == "Failed", out.status
    assert out.accepted["status"] == "False" and out.accepted["reason"] == reason
    assert says in out.status["message"], out.status["message"]
    assert [(t, r) for t, r, _ in out.events] == [("Warning", reason)]
    assert says in out.events[0][2]
    # Refused before the target was claimed: no Lease, no action, no Job.
    assert out.kube.leases == {} and out.kube.jobs == {}
    assert out.status.get("actions", []) == []


@pytest.mark.parametrize(
    ("faults", "allowed"),
    [
        ([proxy_at("x", 15000)], ()),
        ([proxy_admin("http://proxy.example:15000")], ("http://proxy.example:15000",)),
        ([load_url(f"{ALLOWED}/1?x=..")], (ALLOWED,)),
    ],
    ids=["a Service of the namespace", "an allowed proxy URL", "an allowed load URL"],
)
def test_what_may_be_reached_is_accepted(
    monkeypatch: pytest.MonkeyPatch, faults: list[JsonDict], allowed: tuple[str, ...]
) -> None:
    out = accept(monkeypatch, faults, proxy_service, allowed_urls=allowed)
    assert out.status["phase"] == "Pending", out.status
    assert out.accepted["status"] == "True"
    assert [(t, r) for t, r, _ in out.events] == [("Normal", "Accepted")]


def test_queries_that_may_read_another_namespace_are_refused_before_anything_is_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rps = "sum by (service) (rate(http_requests_total[$window]))"
    steady = {"window": "30s", "prometheus": {"queries": {"rps": rps}}}
    prometheus = {"prometheus_url": "http://prometheus.gameday-system.svc:9090"}
    out = accept(monkeypatch, [proxy_at("x", 15000)], proxy_service, steady, **prometheus)
    assert out.status["phase"] == "Failed", out.status
    assert out.accepted["reason"] == "QueryNotConfined"
    assert f'every selector must carry namespace="{NS}"' in out.status["message"]
    assert [(t, r) for t, r, _ in out.events] == [("Warning", "QueryNotConfined")]
    assert out.kube.leases == {} and out.status.get("actions", []) == []
    # Allowed where the operator's configuration lifts the confinement of metrics.
    lifted = accept(
        monkeypatch,
        [proxy_at("x", 15000)],
        proxy_service,
        steady,
        confine_metrics=False,
        **prometheus,
    )
    assert lifted.status["phase"] == "Pending", lifted.status
