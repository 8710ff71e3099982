"""FailureScenario spec parsing, defaults and validation."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator import faultspec
from gameday_operator.model import (
    Action,
    ActionState,
    Architecture,
    CPUStress,
    DBMode,
    DBSlowQuery,
    LatencyMechanism,
    MemoryStress,
    NetworkLatency,
    Phase,
    RemediationMode,
    Rollout,
    SelectorMode,
    ServiceRef,
    SpecError,
    Status,
    StressMechanism,
    TrafficSpike,
    parse_spec,
    parse_status,
)
from gameday_operator.units import (
    format_cpu,
    format_duration,
    format_memory,
    human_duration,
    parse_duration,
    parse_quantity,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def minimal(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"architecture": "monolith", "deployment": "shop-monolith"},
        "faults": [{"type": "CPUStress", "cpuStress": {"load": 80}}],
    }
    spec.update(over)
    return spec


def test_msa_max_replicas_is_the_cap_when_given_and_the_hpas_own_when_not() -> None:
    target = {"architecture": "msa", "deployment": "order"}
    capped = parse_spec(minimal(target=target, remediation={"msa": {"maxReplicas": 4}}))
    assert capped.remediation.msa.max_replicas == 4
    # A minReplicas above the default maximum needs no maxReplicas beside it.
    high = parse_spec(minimal(target=target, remediation={"msa": {"minReplicas": 20}}))
    assert (high.remediation.msa.min_replicas, high.remediation.msa.max_replicas) == (20, None)


def test_defaults_fill_every_optional_field() -> None:
    spec = parse_spec(minimal())
    assert spec.target.architecture is Architecture.MONOLITH
    assert spec.target.container is None
    assert spec.duration_seconds == 300
    assert spec.steady_state.p95_seconds == 1.0
    assert spec.steady_state.error_ratio == 0.01
    assert spec.steady_state.window_seconds == 60
    assert spec.steady_state.prometheus is None and spec.time_based
    assert spec.services == ("monolith",)
    assert spec.abort_error_ratio == 0.5
    r = spec.remediation
    assert r.mode is RemediationMode.AUTO and r.after_seconds == 30
    assert r.monolith.cpu_factor == 2 and r.monolith.max_cpu == Decimal(4)
    assert r.monolith.max_memory == Decimal(8 * 2**30) and r.monolith.rollout is Rollout.FULL
    assert r.msa.min_replicas == 4 and r.msa.max_replicas is None and r.msa.max_unavailable == 0
    assert spec.faults[0].params == CPUStress(load=80, workers=1)
    assert spec.faults[0].selector.mode is SelectorMode.ALL


def test_msa_default_services_and_target_services() -> None:
    spec = parse_spec(minimal(target={"architecture": "msa", "deployment": "order"}))
    assert spec.services == ("gateway", "order", "inventory", "payment")
    assert spec.target_services == ("order",)
    mono = parse_spec(minimal(steadyState={"services": ["web", "api"]}))
    assert mono.services == ("web", "api") and mono.target_services == ("web", "api")


def test_every_fault_type_parses() -> None:
    spec = parse_spec(
        minimal(
            faults=[
                {
                    "type": "TrafficSpike",
                    "trafficSpike": {
                        "target": {"service": "shop", "port": 8080, "path": "/orders"},
                        "rps": 200,
                        "rampSeconds": 10,
                    },
                },
                {
                    "type": "CPUStress",
                    "cpuStress": {"load": 90, "workers": 2},
                    "selector": {"mode": "Percent", "value": 50},
                },
                {"type": "MemoryStress", "memoryStress": {"size": "256Mi"}},
                {
                    "type": "DBSlowQuery",
                    "dbSlowQuery": {
                        "mode": "DropIndex",
                        "table": "orders",
                        "index": "orders_status_idx",
                        "databaseSecretRef": {"name": "db", "key": "dsn"},
                    },
                },
                {
                    "type": "NetworkLatency",
                    "networkLatency": {"latency": "200ms", "jitter": "20ms"},
                },
                {
                    "type": "NetworkLatency",
                    "networkLatency": {
                        "latency": "1s",
                        "mechanism": "Proxy",
                        "proxy": {"service": "pgproxy", "port": 9000},
                    },
                },
            ]
        )
    )
    types = [f.type for f in spec.faults]
    assert types == [
        "TrafficSpike",
        "CPUStress",
        "MemoryStress",
        "DBSlowQuery",
        "NetworkLatency",
        "NetworkLatency",
    ]
    assert [f.index for f in spec.faults] == list(range(6))
    assert spec.faults[1].selector.value == 50
    assert spec.faults[1].params == CPUStress(
        load=90, workers=2, mechanism=StressMechanism.EPHEMERAL_CONTAINER
    )
    assert spec.faults[2].params == MemoryStress(size="256Mi", size_bytes=256 * 2**20)
    db = spec.faults[3].params
    assert isinstance(db, DBSlowQuery)
    assert db.mode is DBMode.DROP_INDEX and db.index == "orders_status_idx"
    assert spec.faults[4].params == NetworkLatency(latency_seconds=0.2, jitter_seconds=0.02)
    assert spec.faults[0].params == TrafficSpike(
        ServiceRef("shop", 8080, "/orders"), rps=200, ramp_seconds=10
    )
    proxy = spec.faults[5].params
    assert isinstance(proxy, NetworkLatency) and proxy.mechanism is LatencyMechanism.PROXY
    assert proxy.proxy == ServiceRef("pgproxy", 9000)


@pytest.mark.parametrize(
    ("block", "destination"),
    [
        ({"target": {"service": "shop", "port": 80}}, ServiceRef("shop", 80, "/")),
        (
            {"target": {"service": "s-1", "port": 65535, "path": "/a/b.c?d=e&f=..x"}},
            ServiceRef("s-1", 65535, "/a/b.c?d=e&f=..x"),
        ),
        ({"url": "https://ingress.example/orders"}, "https://ingress.example/orders"),
    ],
)
def test_the_load_is_aimed_at_a_service_or_a_url(block: dict[str, Any], destination: Any) -> None:
    spec = parse_spec(
        minimal(faults=[{"type": "TrafficSpike", "trafficSpike": {**block, "rps": 5}}])
    )
    params = spec.faults[0].params
    assert isinstance(params, TrafficSpike) and params.destination == destination


def test_cpu_stress_exec_mechanism_parses() -> None:
    spec = parse_spec(
        minimal(faults=[{"type": "CPUStress", "cpuStress": {"load": 100, "mechanism": "Exec"}}])
    )
    assert spec.faults[0].params == CPUStress(load=100, workers=1, mechanism=StressMechanism.EXEC)


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no faults", minimal(faults=[]), "at least one fault"),
    (
        "unknown architecture",
        minimal(target={"architecture": "mesh", "deployment": "x"}),
        "must be one of monolith, msa",
    ),
    (
        "bad deployment name",
        minimal(target={"architecture": "msa", "deployment": "Order_1"}),
        "DNS label",
    ),
    (
        "block of another type",
        minimal(faults=[{"type": "CPUStress", "memoryStress": {"size": "1Mi"}}]),
        "only that block",
    ),
    (
        "two blocks",
        minimal(
            faults=[
                {"type": "CPUStress", "cpuStress": {"load": 5}, "memoryStress": {"size": "1Mi"}}
            ]
        ),
        "only that block",
    ),
    (
        "load over 100",
        minimal(faults=[{"type": "CPUStress", "cpuStress": {"load": 150}}]),
        "between 1 and 100",
    ),
    (
        "unknown stress mechanism",
        minimal(faults=[{"type": "CPUStress", "cpuStress": {"load": 5, "mechanism": "Fork"}}]),
        "mechanism",
    ),
    (
        "bad memory size",
        minimal(faults=[{"type": "MemoryStress", "memoryStress": {"size": "lots"}}]),
        "quantity",
    ),
    (
        "drop index without index",
        minimal(
            faults=[
                {
                    "type": "DBSlowQuery",
                    "dbSlowQuery": {
                        "mode": "DropIndex",
                        "table": "orders",
                        "databaseSecretRef": {"name": "a", "key": "b"},
                    },
                }
            ]
        ),
        "index is required",
    ),
    (
        "sql injection in table",
        minimal(
            faults=[
                {
                    "type": "DBSlowQuery",
                    "dbSlowQuery": {
                        "mode": "HeavyQuery",
                        "table": "orders; drop",
                        "databaseSecretRef": {"name": "a", "key": "b"},
                    },
                }
            ]
        ),
        "SQL identifier",
    ),
    (
        "proxy without admin",
        minimal(
            faults=[
                {
                    "type": "NetworkLatency",
                    "networkLatency": {"latency": "100ms", "mechanism": "Proxy"},
                }
            ]
        ),
        "with mechanism Proxy takes exactly one of proxy",
    ),
    (
        "jitter over latency",
        minimal(
            faults=[
                {"type": "NetworkLatency", "networkLatency": {"latency": "10ms", "jitter": "20ms"}}
            ]
        ),
        "jitter must not exceed",
    ),
    (
        "bad latency",
        minimal(faults=[{"type": "NetworkLatency", "networkLatency": {"latency": "soon"}}]),
        "duration",
    ),
    (
        "bad url",
        minimal(faults=[{"type": "TrafficSpike", "trafficSpike": {"url": "shop", "rps": 5}}]),
        "http or https URL",
    ),
    *(
        (
            f"load target {case}",
            minimal(
                faults=[{"type": "TrafficSpike", "trafficSpike": {"target": target, "rps": 5}}]
            ),
            says,
        )
        for case, target, says in [
            ("named with a dot", {"service": "shop.other", "port": 80}, "DNS-1035 label"),
            ("upper case", {"service": "Shop", "port": 80}, "DNS-1035 label"),
            ("starting with a digit", {"service": "1shop", "port": 80}, "DNS-1035 label"),
            ("of 64 characters", {"service": "s" * 64, "port": 80}, "longer than 63"),
            ("without a port", {"service": "shop"}, "target.port is required"),
            ("port 0", {"service": "shop", "port": 0}, "between 1 and 65535"),
            ("port 65536", {"service": "shop", "port": 65536}, "between 1 and 65535"),
            ("path without /", {"service": "shop", "port": 80, "path": "orders"}, "start with /"),
            ("path with a space", {"service": "s", "port": 80, "path": "/a b"}, "start with /"),
            ("path with #", {"service": "s", "port": 80, "path": "/a#b"}, "start with /"),
        ]
    ),
    (
        "proxy service named with its namespace",
        minimal(
            faults=[
                {
                    "type": "NetworkLatency",
                    "networkLatency": {
                        "latency": "5ms",
                        "mechanism": "Proxy",
                        "proxy": {"service": "db-latency-admin.victim", "port": 15000},
                    },
                }
            ]
        ),
        "networkLatency.proxy.service must be a DNS-1035 label",
    ),
    (
        "selector on a job fault",
        minimal(
            faults=[
                {
                    "type": "TrafficSpike",
                    "selector": {"mode": "All"},
                    "trafficSpike": {"url": "http://a", "rps": 5},
                }
            ]
        ),
        "selector applies only",
    ),
    (
        "percent without value",
        minimal(
            faults=[
                {"type": "CPUStress", "cpuStress": {"load": 5}, "selector": {"mode": "Percent"}}
            ]
        ),
        "required",
    ),
    (
        "value with mode One",
        minimal(
            faults=[
                {
                    "type": "CPUStress",
                    "cpuStress": {"load": 5},
                    "selector": {"mode": "One", "value": 2},
                }
            ]
        ),
        "not allowed",
    ),
    (
        "percent over 100",
        minimal(
            faults=[
                {
                    "type": "CPUStress",
                    "cpuStress": {"load": 5},
                    "selector": {"mode": "Percent", "value": 120},
                }
            ]
        ),
        "between 1 and 100",
    ),
    ("duration too short", minimal(duration="10s"), "between 30s"),
    ("duration unparsable", minimal(duration="five minutes"), "duration such as"),
    (
        "msa settings on a monolith",
        minimal(remediation={"msa": {"minReplicas": 3}}),
        "msa applies only",
    ),
    (
        "monolith settings on msa",
        minimal(
            target={"architecture": "msa", "deployment": "order"},
            remediation={"monolith": {"cpuFactor": 2}},
        ),
        "monolith applies only",
    ),
    (
        "max below min",
        minimal(
            target={"architecture": "msa", "deployment": "order"},
            remediation={"msa": {"minReplicas": 5, "maxReplicas": 2}},
        ),
        "at least minReplicas",
    ),
    (
        "surge and unavailable zero",
        minimal(
            target={"architecture": "msa", "deployment": "order"},
            remediation={"msa": {"maxSurge": 0, "maxUnavailable": 0}},
        ),
        "cannot both be 0",
    ),
    ("factor below one", minimal(remediation={"monolith": {"cpuFactor": 0.5}}), "between 1"),
    ("bad maxCpu", minimal(remediation={"monolith": {"maxCpu": "many"}}), "quantity"),
    ("unknown mode", minimal(remediation={"mode": "Sometimes"}), "Auto, Manual, None"),
    (
        "after beyond duration",
        minimal(duration="2m", steadyState={"window": "10s"}, remediation={"after": "3m"}),
        "after must be shorter",
    ),
    (
        "window beyond duration",
        minimal(duration="1m", steadyState={"window": "5m"}),
        "window must be shorter",
    ),
    (
        "window equal to duration",
        minimal(duration="1m", steadyState={"window": "1m"}),
        "window must be shorter",
    ),
    (
        "response delay in manual mode",
        minimal(remediation={"mode": "Manual", "responseDelay": "30s"}),
        "approval is the response",
    ),
    (
        "response delay with no remediation",
        minimal(remediation={"mode": "None", "responseDelay": "30s"}),
        "remediates nothing",
    ),
    ("abort below slo", minimal(abort={"errorRatioAbove": 0.005}), "greater than"),
    ("error ratio over one", minimal(steadyState={"errorRatio": 2}), "between 0 and 1"),
    ("prometheus url", minimal(steadyState={"prometheus": {"url": "prom:9090"}}), "URL"),
    ("repeated service", minimal(steadyState={"services": ["a", "a"]}), "repeat"),
    (
        "load duration beyond scenario",
        minimal(
            duration="1m",
            faults=[
                {
                    "type": "TrafficSpike",
                    "trafficSpike": {"url": "http://a", "rps": 5, "durationSeconds": 120},
                }
            ],
        ),
        "must not exceed",
    ),
    (
        "rps not an integer",
        minimal(
            faults=[{"type": "TrafficSpike", "trafficSpike": {"url": "http://a", "rps": "many"}}]
        ),
        "integer",
    ),
    (
        "too many faults",
        minimal(faults=[{"type": "CPUStress", "cpuStress": {"load": 1}}] * 9),
        "at most 8",
    ),
]


@pytest.mark.parametrize(("case", "raw", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_specs_name_the_field(case: str, raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_parse(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "FailureScenario":
            parse_spec(doc["spec"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1m30s", 90),
        ("200ms", 0.2),
        ("1h", 3600),
        ("0", 0),
        ("1.5s", 1.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_response_delay_parses_and_defaults_to_none() -> None:
    assert parse_spec(minimal()).remediation.response_delay_seconds == 0
    delayed = parse_spec(minimal(remediation={"responseDelay": "1m30s"}))
    assert delayed.remediation.response_delay_seconds == 90


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (44.6139, "45s"),
        (119.4, "119s"),
        (125, "2m5s"),
        (180, "3m"),
        (600, "10m"),
        (10799, "179m"),
        (10800, "3h"),
        (11040, "3h4m"),
        (-3, "0s"),
    ],
)
def test_human_duration_reads_like_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize("text", ["", "5", "1x", "m5", "5m ", "-5s", "1m-2s", "250us", "1d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("256Mi", Decimal(256 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        (3, Decimal(3)),
    ],
)
def test_parse_quantity(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1Q", "Mi", "1.2.3", "ten"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (format_cpu, Decimal("0.5"), "500m"),
        (format_cpu, Decimal(2), "2"),
        (format_cpu, Decimal("0.0001"), "1m"),
        (format_memory, Decimal(512 * 2**20), "512Mi"),
        (format_memory, Decimal(3 * 2**30), "3Gi"),
        (format_memory, Decimal(1000), "1000"),
        (format_duration, 90, "90s"),
        (format_duration, 0.25, "250ms"),
    ],
)
def test_formatting(fn: Any, value: Any, text: str) -> None:
    assert fn(value) == text


def test_status_round_trips() -> None:
    raw = {
        "phase": "Remediating",
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Degraded",
                "status": "True",
                "reason": "SteadyStateBreached",
                "message": "m",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "observedGeneration": 2,
            }
        ],
        "timeline": {"startedAt": "2025-01-01T00:00:00Z", "injectedAt": "2025-01-01T00:00:05.250Z"},
        "measurements": {
            "peak": {"p95LatencySeconds": 5.0, "errorRatio": 0.3},
            "mttrSeconds": None,
            "downtimeSeconds": 4.5,
        },
        "blastRadius": {"affectedServices": ["order"], "unaffectedServices": ["gateway"]},
        "actions": [
            {
                "id": "r-hpa",
                "at": "2025-01-01T00:00:10Z",
                "kind": "HPAScaleOut",
                "target": "horizontalpodautoscaler/order",
                "detail": {"minReplicas": 4},
                "previous": {"exists": False},
                "state": "Applied",
            }
        ],
        "samples": [
            {
                "at": "2025-01-01T00:00:10Z",
                "phase": "Injecting",
                "service": "order",
                "p95LatencySeconds": 2.0,
                "errorRatio": 0.1,
                "rps": 50.0,
                "readyReplicas": 2,
            }
        ],
        "progress": {"observationFailures": 1, "lastTickAt": "2025-01-01T00:00:10Z"},
    }
    status = parse_status(raw)
    assert status.phase is Phase.REMEDIATING
    assert status.actions[0].state is ActionState.APPLIED and status.actions[0].live
    assert status.measurements.peak.p95_seconds == 5.0
    again = parse_status(status.to_dict())
    assert again == status
    out = status.to_dict()
    assert out["timeline"]["injectedAt"] == "2025-01-01T00:00:05.250Z"
    assert out["actions"][0]["previous"] == {"exists": False}
    assert set(out["measurements"]["baseline"]) == {
        "p50LatencySeconds",
        "p95LatencySeconds",
        "p99LatencySeconds",
        "errorRatio",
        "rps",
    }


def test_with_action_replaces_by_id_and_keeps_order() -> None:
    from datetime import UTC, datetime

    t = datetime(2025, 1, 1, tzinfo=UTC)
    a = Action(id="a", at=t, kind="K", target="x")
    b = Action(id="b", at=t, kind="K", target="y")
    s = Status().with_action(a).with_action(b)
    s2 = s.with_action(Action(id="a", at=t, kind="K", target="x", state=ActionState.REVERTED))
    assert [x.id for x in s2.actions] == ["a", "b"]
    assert s2.actions[0].state is ActionState.REVERTED and not s2.actions[0].live
    assert [x.id for x in s2.live_actions] == ["b"]


def test_parse_does_not_mutate_input() -> None:
    raw = minimal()
    before = copy.deepcopy(raw)
    parse_spec(raw)
    assert raw == before


# ------------------------------------------ settings that do not apply, URLs without a host

PROXY = {"latency": "5ms", "mechanism": "Proxy", "proxy": {"service": "proxy", "port": 15000}}
PROXY_ADMIN = {"latency": "5ms", "mechanism": "Proxy", "proxyAdmin": "http://proxy:15000"}
TARGET = {"service": "shop", "port": 80}
DB = {"table": "orders", "databaseSecretRef": {"name": "a", "key": "b"}}


def fault(type_: str, block: dict[str, Any], **extra: Any) -> dict[str, Any]:
    key = faultspec.FAULT_BLOCKS[type_]
    return {"type": type_, key: block, **extra}


# (case, spec, the CRD node holding the rule, the words its message and the parser's share,
#  words the CEL rule must read): each is refused by the operator's parser here and by a CEL
#  rule of the CRD at admission (tests/unit/test_crd_rules.py checks the rule is there).
REFUSED_BOTH: list[tuple[str, dict[str, Any], str, str, tuple[str, ...]]] = [
    (
        "selector on a load",
        minimal(faults=[fault("TrafficSpike", {"url": "http://a", "rps": 5}, selector={})]),
        "spec.faults[]",
        "selector applies only to faults that run in the target's pods "
        "(CPUStress, MemoryStress, NetworkLatency with mechanism Netem, "
        "NetworkBandwidth, NetworkLoss, NetworkPartition)",
        ("selector", "type"),
    ),
    (
        "selector on a database fault",
        minimal(
            faults=[fault("DBSlowQuery", {"mode": "HeavyQuery", **DB}, selector={"mode": "One"})]
        ),
        "spec.faults[]",
        "selector applies only to faults that run in the target's pods",
        ("selector", "type"),
    ),
    (
        "selector on proxy latency",
        minimal(faults=[fault("NetworkLatency", PROXY, selector={"mode": "All"})]),
        "spec.faults[]",
        "NetworkLatency with mechanism Netem",
        ("selector", "mechanism", "Proxy"),
    ),
    (
        "proxyAdmin with netem by default",
        minimal(faults=[fault("NetworkLatency", {"latency": "5ms", "proxyAdmin": "http://p"})]),
        "spec.faults[].networkLatency",
        "networkLatency.proxyAdmin applies only to mechanism Proxy",
        ("proxyAdmin", "mechanism"),
    ),
    (
        "proxyAdmin with netem",
        minimal(
            faults=[
                fault(
                    "NetworkLatency",
                    {"latency": "5ms", "mechanism": "Netem", "proxyAdmin": "http://p"},
                )
            ]
        ),
        "spec.faults[].networkLatency",
        "networkLatency.proxyAdmin applies only to mechanism Proxy",
        ("proxyAdmin", "mechanism"),
    ),
    *(
        (
            f"load {case}",
            minimal(faults=[fault("TrafficSpike", {**block, "rps": 5})]),
            "spec.faults[].trafficSpike",
            "trafficSpike takes exactly one of target (a Service of the scenario's namespace) "
            "and url (a URL under the operator's GAMEDAY_ALLOWED_URLS)",
            ("target", "url"),
        )
        for case, block in [
            ("with both a target and a url", {"target": TARGET, "url": "http://a"}),
            ("with neither a target nor a url", {}),
        ]
    ),
    *(
        (
            f"proxy latency {case}",
            minimal(
                faults=[fault("NetworkLatency", {"latency": "5ms", "mechanism": "Proxy", **block})]
            ),
            "spec.faults[].networkLatency",
            "networkLatency with mechanism Proxy takes exactly one of proxy (a Service of the "
            "scenario's namespace) and proxyAdmin (a URL under the operator's "
            "GAMEDAY_ALLOWED_URLS)",
            ("proxy", "proxyAdmin", "mechanism"),
        )
        for case, block in [
            (
                "with both a proxy and a proxyAdmin",
                {"proxy": PROXY["proxy"], "proxyAdmin": PROXY_ADMIN["proxyAdmin"]},
            ),
            ("with neither a proxy nor a proxyAdmin", {}),
        ]
    ),
    (
        "proxy with netem",
        minimal(faults=[fault("NetworkLatency", {"latency": "5ms", "proxy": PROXY["proxy"]})]),
        "spec.faults[].networkLatency",
        "networkLatency.proxy applies only to mechanism Proxy",
        ("has(self.proxy)", "mechanism"),
    ),
    *(
        (
            f"load path {path}",
            minimal(faults=[fault("TrafficSpike", {"target": {**TARGET, "path": path}, "rps": 5})]),
            "spec.faults[].trafficSpike.target.path",
            "trafficSpike.target.path must not hold . or .. segments",
            ("matches",),
        )
        for path in ("/orders/../-/quit", "/..", "/./x", "/%2e%2e/x", "/a/.%2E?x=1", "/a/..?x")
    ),
    (
        "interface with proxy",
        minimal(faults=[fault("NetworkLatency", {**PROXY, "interface": "eth1"})]),
        "spec.faults[].networkLatency",
        "networkLatency.interface applies only to mechanism Netem",
        ("interface", "mechanism"),
    ),
    (
        "index with lock contention",
        minimal(
            faults=[fault("DBSlowQuery", {"mode": "LockContention", "index": "orders_idx", **DB})]
        ),
        "spec.faults[].dbSlowQuery",
        "dbSlowQuery.index applies only to mode DropIndex",
        ("index", "mode"),
    ),
    (
        "index with heavy query",
        minimal(faults=[fault("DBSlowQuery", {"mode": "HeavyQuery", "index": "i", **DB})]),
        "spec.faults[].dbSlowQuery",
        "dbSlowQuery.index applies only to mode DropIndex",
        ("index", "mode"),
    ),
    (
        "exec stress below 100",
        minimal(faults=[fault("CPUStress", {"load": 50, "mechanism": "Exec"})]),
        "spec.faults[].cpuStress",
        "cpuStress.load must be 100 with mechanism Exec",
        ("load", "mechanism"),
    ),
    (
        "monolith settings with mode None",
        minimal(remediation={"mode": "None", "monolith": {"cpuFactor": 3}}),
        "spec.remediation",
        "remediation.monolith applies only to modes Auto and Manual",
        ("monolith", "mode"),
    ),
    (
        "msa settings with mode None",
        minimal(
            target={"architecture": "msa", "deployment": "order"},
            remediation={"mode": "None", "msa": {"minReplicas": 6}},
        ),
        "spec.remediation",
        "remediation.msa applies only to modes Auto and Manual",
        ("msa", "mode"),
    ),
    (
        "response delay in manual mode",
        minimal(remediation={"mode": "Manual", "responseDelay": "30s"}),
        "spec.remediation",
        "remediation.responseDelay applies only to mode Auto",
        ("responseDelay", "mode"),
    ),
    (
        "response delay beyond duration",
        minimal(duration="2m", steadyState={"window": "10s"}, remediation={"responseDelay": "2m"}),
        "spec",
        "remediation.responseDelay must be shorter than",
        ("responseDelay", "duration"),
    ),
    (
        "load beyond the scenario",
        minimal(
            duration="1m",
            faults=[fault("TrafficSpike", {"url": "http://a", "rps": 5, "durationSeconds": 61})],
        ),
        "spec",
        "trafficSpike.durationSeconds must not exceed",
        ("durationSeconds", "duration"),
    ),
    *(
        (
            f"load url {url}",
            minimal(faults=[fault("TrafficSpike", {"url": url, "rps": 5})]),
            "spec.faults[].trafficSpike.url",
            "trafficSpike.url must be an http or https URL with a host",
            ("getHostname",),
        )
        for url in ("http://", "http:///orders", "http://:8080/orders", "https://@/", "shop")
    ),
    (
        "proxy admin without a host",
        minimal(faults=[fault("NetworkLatency", {**PROXY_ADMIN, "proxyAdmin": "http://:15000"})]),
        "spec.faults[].networkLatency.proxyAdmin",
        "networkLatency.proxyAdmin must be an http or https URL with a host",
        ("getHostname",),
    ),
    *(
        (
            case,
            minimal(faults=[fault("NetworkBandwidth", {"rate": "1mbit", "destinations": [d]})]),
            f"spec.faults[].networkBandwidth.destinations[]{node}",
            message,
            reads,
        )
        for case, d, node, message, reads in (
            (
                "a destination with both service and cidr",
                {"service": {"name": "a"}, "cidr": "10.0.0.0/8"},
                "",
                "carries exactly one of service and cidr",
                ("service", "cidr"),
            ),
            (
                "a destination with neither service nor cidr",
                {"port": 80},
                "",
                "carries exactly one of service and cidr",
                ("service", "cidr"),
            ),
            (
                "a port beside a service",
                {"service": {"name": "a"}, "port": 80},
                "",
                "only to cidr (a Service's port is service.port)",
                ("service", "port", "protocol"),
            ),
            (
                "a protocol without a port",
                {"cidr": "10.0.0.0/8", "protocol": "UDP"},
                "",
                "protocol applies only with a port",
                ("protocol", "port"),
            ),
            (
                "a cidr that is an address",
                {"cidr": "10.1.2.3"},
                ".cidr",
                "cidr must be a CIDR such as 10.0.0.0/8 or fd00::/64",
                ("isCIDR",),
            ),
        )
    ),
    (
        "bandwidth on ingress",
        minimal(faults=[fault("NetworkBandwidth", {"rate": "1mbit", "direction": "Ingress"})]),
        "spec.faults[].networkBandwidth",
        "networkBandwidth.direction must be Egress",
        ("direction", "Egress"),
    ),
    (
        "a rate of zero",
        minimal(faults=[fault("NetworkBandwidth", {"rate": "0.0mbit"})]),
        "spec.faults[].networkBandwidth.rate",
        "networkBandwidth.rate must be a positive rate in bits per second, such as 1mbit",
        ("matches", "[1-9]"),
    ),
    *(
        (
            f"a {key} of {value}",
            minimal(faults=[fault("NetworkBandwidth", {"rate": "1mbit", key: value})]),
            f"spec.faults[].networkBandwidth.{key}",
            f"networkBandwidth.{key} must be a quantity of bytes from 2Ki to 64Mi",
            ("quantity('2Ki')", "quantity('64Mi')"),
        )
        for key, value in (("burst", "1Ki"), ("limit", "128Mi"))
    ),
    (
        "bandwidth and netem latency on eth0 by default",
        minimal(
            faults=[
                fault("NetworkBandwidth", {"rate": "1mbit"}),
                fault("NetworkLatency", {"latency": "5ms"}),
            ]
        ),
        "spec.faults",
        "one root qdisc per interface",
        ("NetworkBandwidth", "Netem", "interface", "size() == 1"),
    ),
    (
        "two bandwidth faults on eth1",
        minimal(
            faults=[
                fault("NetworkBandwidth", {"rate": "1mbit", "interface": "eth1"}),
                fault("NetworkBandwidth", {"rate": "2mbit", "interface": "eth1"}),
            ]
        ),
        "spec.faults",
        "one root qdisc per interface",
        ("networkBandwidth.interface",),
    ),
    (
        "a loss probability of zero",
        minimal(faults=[fault("NetworkLoss", {"probability": 0})]),
        "spec.faults[].networkLoss.probability",
        "networkLoss.probability must be in (0, 1]",
        ("self > 0.0", "self <= 1.0"),
    ),
    (
        "prometheus without a host",
        minimal(steadyState={"prometheus": {"url": "http:///api/v1"}}),
        "spec.steadyState.prometheus.url",
        "steadyState.prometheus.url must be an http or https URL with a host",
        ("getHostname",),
    ),
    (
        "prometheus with a port that is no number",
        minimal(steadyState={"prometheus": {"url": "http://prom:ninety"}}),
        "spec.steadyState.prometheus.url",
        "steadyState.prometheus.url must be an http or https URL with a host",
        ("isURL",),
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "node", "message", "reads"), REFUSED_BOTH, ids=[c[0] for c in REFUSED_BOTH]
)
def test_a_setting_that_does_not_apply_is_refused_naming_the_field(
    case: str, raw: dict[str, Any], node: str, message: str, reads: tuple[str, ...]
) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(raw)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "block",
    [
        {"latency": "5ms"},
        {"latency": "5ms", "mechanism": "Netem", "interface": "eth1"},
        # eth0 is what older CRDs filled in whatever the mechanism: a stored Proxy fault has it.
        {**PROXY, "interface": "eth0"},
        PROXY,
    ],
)
def test_the_latency_settings_of_each_mechanism_are_accepted(block: dict[str, Any]) -> None:
    spec = parse_spec(minimal(faults=[fault("NetworkLatency", block)]))
    assert isinstance(spec.faults[0].params, NetworkLatency)


@pytest.mark.parametrize(
    "url", ["http://a", "https://prom.example:9090/x?q=1", "http://[::1]:9090", "http://10.0.0.1"]
)
def test_urls_with_a_host_are_accepted(url: str) -> None:
    spec = parse_spec(minimal(steadyState={"prometheus": {"url": url}}))
    assert spec.steady_state.prometheus is not None and spec.steady_state.prometheus.url == url


def test_settings_that_apply_are_accepted() -> None:
    spec = parse_spec(
        minimal(
            faults=[
                fault("NetworkLatency", {"latency": "5ms"}, selector={"mode": "One"}),
                fault("DBSlowQuery", {"mode": "DropIndex", "index": "orders_idx", **DB}),
            ],
            remediation={"mode": "Manual", "monolith": {"cpuFactor": 3}},
        )
    )
    assert spec.faults[0].selector.mode is SelectorMode.ONE
    assert spec.remediation.monolith.cpu_factor == 3


# ------------------------------------------------- the monolith resize never shrinks the target

RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}


@pytest.mark.parametrize(
    ("max_cpu", "expected", "kept"),
    [
        # The reported case: maxCpu 50m on a 200m limit cut the limit to 50m.
        ("50m", {"requests": "100m", "limits": "200m"}, ["requests.cpu", "limits.cpu"]),
        ("150m", {"requests": "150m", "limits": "200m"}, ["limits.cpu"]),
        ("200m", {"requests": "200m", "limits": "200m"}, ["limits.cpu"]),
        ("4", {"requests": "200m", "limits": "400m"}, []),
    ],
)
def test_the_monolith_resize_never_goes_below_the_current_value(
    max_cpu: str, expected: dict[str, str], kept: list[str]
) -> None:
    from gameday_operator.remediation.monolith import grown_resources

    plan = parse_spec(minimal(remediation={"monolith": {"maxCpu": max_cpu}})).remediation.monolith
    new, notes = grown_resources(RESOURCES, plan)
    assert {part: values["cpu"] for part, values in new.items()} == expected
    assert new["requests"]["memory"] == "128Mi"
    assert [n.split(" ")[0] for n in notes] == kept
    assert all(f"maxCpu {max_cpu} is not above it" in n for n in notes)


def test_an_action_keeps_its_seal_through_status_and_has_none_when_unsealed() -> None:
    from datetime import UTC, datetime

    t = datetime(2025, 1, 1, tzinfo=UTC)
    sealed = Action(id="a", at=t, kind="K", target="x", seal="v1:ab")
    unsealed = Action(id="b", at=t, kind="K", target="y")
    out = Status(actions=(sealed, unsealed)).to_dict()
    assert out["actions"][0]["seal"] == "v1:ab" and "seal" not in out["actions"][1]
    assert [a.seal for a in parse_status(out).actions] == ["v1:ab", ""]
    out["actions"][1]["seal"] = 7  # whatever someone wrote there is read as text
    assert parse_status(out).actions[1].seal == "7"


def test_a_spec_that_does_not_read_still_gives_what_a_revert_needs() -> None:
    from gameday_operator.model import parse_scenario_to_revert

    body: dict[str, Any] = {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u-1", "generation": 2},
        "spec": {
            "target": {"architecture": "msa", "deployment": "order"},
            "faults": [{"type": "CPUStress", "cpuStress": {"load": 500}}],
        },
    }
    scenario, why = parse_scenario_to_revert(body)
    assert why is not None and "cpuStress.load" in why
    assert (scenario.name, scenario.namespace, scenario.uid) == ("s", "ns", "u-1")
    assert scenario.spec.target.deployment == "order"
    assert scenario.spec.target.architecture.value == "msa"
    assert scenario.spec.faults == ()  # nothing to plan from it
    body["spec"]["faults"][0]["cpuStress"]["load"] = 50
    whole, none = parse_scenario_to_revert(body)
    assert none is None and len(whole.spec.faults) == 1


@pytest.mark.parametrize(
    "faults",
    [
        # Each on its own interface, or one that installs no qdisc.
        [
            fault("NetworkBandwidth", {"rate": "1mbit"}),
            fault("NetworkLatency", {"latency": "5ms", "interface": "eth1"}),
        ],
        [fault("NetworkBandwidth", {"rate": "1mbit"}), fault("NetworkLatency", PROXY)],
        [fault("NetworkBandwidth", {"rate": "1mbit"}), fault("NetworkLoss", {"probability": 0.5})],
    ],
    ids=["other-interface", "proxy-latency", "loss-beside"],
)
def test_faults_that_do_not_share_a_root_qdisc_are_accepted_together(
    faults: list[dict[str, Any]],
) -> None:
    assert len(parse_spec(minimal(faults=faults)).faults) == 2


def test_two_root_qdiscs_on_one_interface_are_refused_naming_both_faults() -> None:
    raw = minimal(
        faults=[
            fault("CPUStress", {"load": 50}),
            fault("NetworkLatency", {"latency": "5ms", "interface": "eth1"}),
            fault("NetworkBandwidth", {"rate": "1mbit", "interface": "eth1"}),
        ]
    )
    with pytest.raises(SpecError, match=r"spec.faults\[2\] and spec.faults\[1\]: one root qdisc"):
        parse_spec(raw)
