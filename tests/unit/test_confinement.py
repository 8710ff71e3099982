"""Where a scenario may reach: Services of its own namespace, or what the operator allows."""

from __future__ import annotations

from typing import Any

import pytest

from gameday_operator.allow_list import allowed_by
from gameday_operator.config import Config, ConfigError
from gameday_operator.confinement import (
    FoundService,
    Resolution,
    check,
    found_service,
    resolve,
    service_in,
)
from gameday_operator.model import Scenario, parse_scenario
from tests.unit.fake_kube import NS, scenario_body

PROM = "http://prometheus.gameday-system.svc:9090"


def spike(url: str) -> dict[str, Any]:
    return {"type": "TrafficSpike", "trafficSpike": {"url": url, "rps": 10}}


def proxy(admin: str) -> dict[str, Any]:
    return {
        "type": "NetworkLatency",
        "networkLatency": {"latency": "100ms", "mechanism": "Proxy", "proxyAdmin": admin},
    }


def parsed(*faults: dict[str, Any], prometheus: dict[str, Any] | None = None) -> Scenario:
    extra: dict[str, Any] = {}
    if prometheus is not None:
        extra["steadyState"] = {"window": "30s", "prometheus": prometheus}
    return parse_scenario(scenario_body(list(faults), **extra))


@pytest.mark.parametrize(
    ("url", "qualified", "found"),
    [
        ("http://shop/orders", False, ("shop", 80)),
        ("http://shop/orders", True, None),  # bare: resolves in the operator's namespace
        (f"http://shop.{NS}/orders", True, ("shop", 80)),
        (f"http://shop.{NS}.svc/orders", True, ("shop", 80)),
        (f"http://shop.{NS}.svc.cluster.local:8080/", True, ("shop", 8080)),
        (f"https://shop.{NS}.svc/", True, ("shop", 443)),
        (f"http://shop.{NS}.svc.:81/", True, ("shop", 81)),
        ("http://db-latency-admin.other.svc:15000", True, None),
        ("http://db-latency-admin.other.svc:15000", False, None),
        (f"http://shop.{NS}.pod/", True, None),
        ("http://example.com/", True, None),
        ("http://10.96.0.10:9090/", False, None),
        ("http://127.0.0.1:1/", False, None),
        ("http://[::1]:8080/", False, None),
        (f"http://shop..{NS}.svc/", True, None),
    ],
)
def test_service_in(url: str, qualified: bool, found: tuple[str, int] | None) -> None:
    assert service_in(url, NS, qualified=qualified) == found


@pytest.mark.parametrize(
    ("url", "prefixes", "match"),
    [
        ("http://load.test:8080/orders", ["http://load.test:8080"], "http://load.test:8080"),
        ("http://load.test:8080/orders/1", ["http://load.test:8080/orders"], "x"),
        ("http://load.test:8080/ordersx", ["http://load.test:8080/orders"], None),
        ("http://load.test/orders", ["http://load.test:80/"], "x"),
        ("https://load.test/orders", ["http://load.test/"], None),
        ("http://load.test:8081/orders", ["http://load.test:8080"], None),
        ("http://load.test.evil/orders", ["http://load.test"], None),
        ("http://127.0.0.1:1/", [], None),
        ("http://LOAD.test:8080/orders", ["http://load.test:8080/orders/"], "x"),
        ("http://load.test:8080/orders/%6Frder", ["http://load.test:8080/orders"], "x"),
        # The host is compared exactly: a trailing dot is another name to the resolver.
        ("http://load.test.:8080/orders", ["http://load.test:8080"], None),
    ],
)
def test_allowed_by_compares_scheme_host_port_and_path(
    url: str, prefixes: list[str], match: str | None
) -> None:
    got = allowed_by(url, prefixes)
    assert (got is not None) == (match is not None)
    if match not in (None, "x"):
        assert got == match


ORDERS = "http://allowed.test:8080/orders"


@pytest.mark.parametrize(
    "url",
    [
        # Dot-segments: the client removes them before sending, so each of these reaches
        # /-/quit on allowed.test, outside the allowed /orders.
        f"{ORDERS}/../-/quit",
        f"{ORDERS}/..",
        f"{ORDERS}/%2e%2e/-/quit",
        f"{ORDERS}/%2E%2E/-/quit",
        f"{ORDERS}/.%2e/-/quit",
        f"{ORDERS}/%252e%252e/-/quit",  # .. to a server that decodes twice
        f"{ORDERS}/./x",
        # Encoded slashes: a server that decodes them sees /orders/x/../../-/quit.
        f"{ORDERS}/x%2f..%2f..%2f-/quit",
        f"{ORDERS}/x%5c..%5c..%5c-/quit",
        # User information and backslashes: parsers disagree on where the host ends.
        "http://evil.test@allowed.test:8080/orders",
        "http://evil.test\\@allowed.test:8080/orders",
        f"{ORDERS}/x\\..\\-/quit",
        # Whitespace and control characters, which some parsers drop and others keep.
        f"{ORDERS}/\t../-/quit",
        f"{ORDERS}/ x",
    ],
)
def test_a_url_the_allow_list_cannot_vouch_for_falls_under_no_prefix(url: str) -> None:
    assert allowed_by(url, [ORDERS, f"{ORDERS}/"]) is None


@pytest.mark.parametrize(
    "prefix",
    [
        "http://allowed.test/orders/../",
        "http://allowed.test/%2e%2e/",
        "http://user@allowed.test/",
        "http://allowed.test/orders?all=1",
        "ftp://allowed.test/",
        "http:///orders",
    ],
)
def test_the_operator_refuses_to_start_with_a_prefix_it_cannot_compare(prefix: str) -> None:
    with pytest.raises(ConfigError, match="GAMEDAY_ALLOWED_URLS entry"):
        Config.from_env({"GAMEDAY_ALLOWED_URLS": f"http://ok.test/, {prefix}"})
    assert Config.from_env({"GAMEDAY_ALLOWED_URLS": "http://ok.test/, "}).allowed_urls == (
        "http://ok.test/",
    )


def test_urls_in_the_namespace_leave_services_to_look_up() -> None:
    scenario = parsed(
        spike("http://shop/orders"),
        proxy(f"http://db-latency-admin.{NS}.svc:15000"),
        prometheus={"url": PROM},
    )
    verdict = check(scenario, PROM, ())
    assert verdict.problems == ()
    assert [(s.path, s.service, s.port) for s in verdict.services] == [
        ("spec.faults[0].trafficSpike.url", "shop", 80),
        ("spec.faults[1].networkLatency.proxyAdmin", "db-latency-admin", 15000),
    ]


def test_another_namespace_is_refused_and_says_what_is_allowed() -> None:
    verdict = check(parsed(proxy("http://db-latency-admin.victim.svc:15000")), PROM, ())
    (problem,) = verdict.problems
    assert "spec.faults[0].networkLatency.proxyAdmin" in problem
    assert f"is not a Service of namespace {NS}" in problem
    assert f"name.{NS}.svc" in problem and "GAMEDAY_ALLOWED_URLS: none" in problem
    assert verdict.services == ()


def test_a_bare_proxy_name_is_refused_the_operator_would_resolve_it_in_its_own() -> None:
    (problem,) = check(parsed(proxy("http://db-latency-admin:15000")), PROM, ()).problems
    assert "networkLatency.proxyAdmin" in problem


def test_ip_and_external_urls_are_refused_unless_allowed() -> None:
    scenario = parsed(spike("http://10.0.0.7/orders"), spike("http://example.com/"))
    assert len(check(scenario, PROM, ()).problems) == 2
    allowed = check(scenario, PROM, ("http://10.0.0.7", "http://example.com/"))
    assert allowed.problems == () and allowed.services == ()


def test_prometheus_is_the_operators_own_unless_allowed() -> None:
    mine = parsed(spike("http://shop/"), prometheus={"url": f"http://prometheus.{NS}.svc:9090"})
    (problem,) = check(mine, PROM, ()).problems
    assert "spec.steadyState.prometheus.url" in problem and PROM in problem
    assert check(mine, PROM, (f"http://prometheus.{NS}.svc:9090",)).problems == ()
    # Absent: the operator's; and with none configured, the scenario is told so.
    default = parsed(spike("http://shop/"), prometheus={"selector": 'job="x"'})
    assert check(default, PROM, ()).problems == ()
    (none,) = check(default, "", ()).problems
    assert "GAMEDAY_PROMETHEUS_URL" in none


def routed(*ports: int) -> FoundService:
    return FoundService(type="ClusterIP", external_name="", selects_pods=True, ports=ports)


def test_resolve_names_missing_services_and_ports() -> None:
    verdict = check(
        parsed(
            spike("http://shop/orders"), spike(f"http://gone.{NS}.svc/"), spike("http://shop:8080/")
        ),
        PROM,
        (),
    )
    resolution = resolve(verdict.services, {"shop": routed(80), "gone": None})
    assert resolution.not_allowed == ()
    assert resolution.not_found == (
        "spec.faults[1].trafficSpike.url: Service gone not found",
        "spec.faults[2].trafficSpike.url: Service shop has no port 8080 (has 80)",
    )
    assert resolve(verdict.services[:1], {"shop": routed(80)}) == Resolution((), ())


@pytest.mark.parametrize(
    ("manifest", "refused"),
    [
        # An alias of another namespace's proxy, or of the operator's Prometheus: the audit's
        # cross-namespace attack through a Service of the scenario's own namespace.
        (
            {"type": "ExternalName", "externalName": "db-latency-admin.victim.svc.cluster.local"},
            "is of type ExternalName (an alias of db-latency-admin.victim.svc.cluster.local)",
        ),
        (
            {
                "type": "ExternalName",
                "externalName": "prometheus.gameday-system.svc.cluster.local",
                "selector": {"app": "x"},
            },
            "is of type ExternalName",
        ),
        # No selector: endpoints written by hand, which may be any address.
        ({}, "has no selector"),
        ({"selector": {}}, "has no selector"),
        ({"type": "NodePort"}, "has no selector"),
    ],
)
def test_a_service_that_may_lead_out_of_the_namespace_is_not_allowed(
    manifest: dict[str, Any], refused: str
) -> None:
    spec = {"ports": [{"port": 15000}], **manifest}
    wanted = check(parsed(proxy(f"http://x.{NS}.svc:15000")), PROM, ()).services
    resolution = resolve(wanted, {"x": found_service({"spec": spec})})
    (problem,) = resolution.not_allowed
    assert problem.startswith("spec.faults[0].networkLatency.proxyAdmin: Service x ")
    assert refused in problem and "selects pods of its namespace" in problem
    assert resolution.not_found == ()


@pytest.mark.parametrize("type_", [None, "ClusterIP", "NodePort", "LoadBalancer"])
def test_a_service_of_a_routed_type_that_selects_pods_is_reached(type_: str | None) -> None:
    spec: dict[str, Any] = {"ports": [{"port": 15000}], "selector": {"app": "proxy"}}
    if type_ is not None:
        spec["type"] = type_
    wanted = check(parsed(proxy(f"http://x.{NS}.svc:15000")), PROM, ()).services
    assert resolve(wanted, {"x": found_service({"spec": spec})}) == Resolution((), ())
