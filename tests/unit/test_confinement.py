"""Where a scenario may reach: Services of its own namespace, or what the operator allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator.allow_list import allowed_by
from gameday_operator.config import Config, ConfigError
from gameday_operator.confinement import (
    FoundService,
    Resolution,
    check,
    found_service,
    resolve,
)
from gameday_operator.model import Scenario, parse_scenario
from tests.fixtures.faults import load_at, load_url, proxy_admin, proxy_at
from tests.unit.fake_kube import NS, scenario_body

PROM = "http://prometheus.gameday-system.svc:9090"


def parsed(*faults: dict[str, Any], prometheus: dict[str, Any] | None = None) -> Scenario:
    extra: dict[str, Any] = {}
    if prometheus is not None:
        extra["steadyState"] = {"window": "30s", "prometheus": prometheus}
    return parse_scenario(scenario_body(list(faults), **extra))


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


def test_services_of_the_namespace_are_left_to_look_up() -> None:
    scenario = parsed(
        load_at("shop", 80, "/orders"),
        proxy_at("db-latency-admin", 15000),
        prometheus={"url": PROM},
    )
    verdict = check(scenario, PROM, ())
    assert verdict.problems == ()
    assert [(s.path, s.service, s.port) for s in verdict.services] == [
        ("spec.faults[0].trafficSpike.target", "shop", 80),
        ("spec.faults[1].networkLatency.proxy", "db-latency-admin", 15000),
    ]


# Free URLs the audit tried, and older forms that named a Service of the namespace: none is
# taken without the allow-list, whatever its host says.
FREE_URLS = [
    # Another namespace's proxy: the reported cross-namespace latency.
    "http://db-latency-admin.victim.svc:15000",
    # The scenario's namespace with a foreign domain after .svc, which public DNS may resolve
    # to any address (the audit's `.svc.<anything>` bypass).
    f"http://db-latency-admin.{NS}.svc.10.96.12.34.nip.io:15000",
    f"http://shop.{NS}.svc.evil.example/-/quit",
    # Forms that named a Service of the namespace before Services were named as objects.
    f"http://shop.{NS}.svc.cluster.local:8080/",
    f"http://shop.{NS}.svc/orders",
    f"http://shop.{NS}/orders",
    "http://shop/orders",
    # Addresses and hosts outside the cluster.
    "http://10.96.0.10:9090/-/quit",
    "http://127.0.0.1:1/",
    "http://[::1]:8080/",
    "http://example.com/",
]


@pytest.mark.parametrize("url", FREE_URLS)
@pytest.mark.parametrize("as_proxy", [False, True], ids=["trafficSpike.url", "proxyAdmin"])
def test_a_free_url_is_refused_and_the_service_form_named(url: str, as_proxy: bool) -> None:
    fault, key, form = (
        (proxy_admin(url), "networkLatency.proxyAdmin", "networkLatency.proxy")
        if as_proxy
        else (load_url(url), "trafficSpike.url", "trafficSpike.target")
    )
    verdict = check(parsed(fault), PROM, ())
    (problem,) = verdict.problems
    assert problem.startswith(f"spec.faults[0].{key} {url} is not under a URL prefix"), problem
    assert "GAMEDAY_ALLOWED_URLS: none" in problem
    assert f"name a Service of namespace {NS} instead: {form}" in problem
    assert verdict.services == ()


def test_a_free_url_under_an_allowed_prefix_is_taken_and_looks_up_nothing() -> None:
    scenario = parsed(load_url("http://10.0.0.7/orders"), proxy_admin("http://example.com:15000/"))
    assert len(check(scenario, PROM, ()).problems) == 2
    allowed = check(scenario, PROM, ("http://10.0.0.7", "http://example.com:15000/"))
    assert allowed.problems == () and allowed.services == ()


def test_prometheus_is_the_operators_own_unless_allowed() -> None:
    mine = parsed(load_at("shop", 80), prometheus={"url": f"http://prometheus.{NS}.svc:9090"})
    (problem,) = check(mine, PROM, ()).problems
    assert "spec.steadyState.prometheus.url" in problem and PROM in problem
    assert check(mine, PROM, (f"http://prometheus.{NS}.svc:9090",)).problems == ()
    # Absent: the operator's; and with none configured, the scenario is told so.
    default = parsed(load_at("shop", 80), prometheus={"selector": 'job="x"'})
    assert check(default, PROM, ()).problems == ()
    (none,) = check(default, "", ()).problems
    assert "GAMEDAY_PROMETHEUS_URL" in none


def routed(*ports: int) -> FoundService:
    return FoundService(type="ClusterIP", external_name="", selects_pods=True, ports=ports)


def test_resolve_names_missing_services_and_ports() -> None:
    verdict = check(
        parsed(load_at("shop", 80, "/orders"), load_at("gone", 80), proxy_at("shop", 8080)),
        PROM,
        (),
    )
    resolution = resolve(verdict.services, {"shop": routed(80), "gone": None})
    assert resolution.not_allowed == ()
    assert resolution.not_found == (
        "spec.faults[1].trafficSpike.target: Service gone not found",
        "spec.faults[2].networkLatency.proxy: Service shop has no port 8080 (has 80)",
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
    wanted = check(parsed(proxy_at("x", 15000)), PROM, ()).services
    resolution = resolve(wanted, {"x": found_service({"spec": spec})})
    (problem,) = resolution.not_allowed
    assert problem.startswith("spec.faults[0].networkLatency.proxy: Service x ")
    assert refused in problem and "selects pods of its namespace" in problem
    assert resolution.not_found == ()


@pytest.mark.parametrize("type_", [None, "ClusterIP", "NodePort", "LoadBalancer"])
def test_a_service_of_a_routed_type_that_selects_pods_is_reached(type_: str | None) -> None:
    spec: dict[str, Any] = {"ports": [{"port": 15000}], "selector": {"app": "proxy"}}
    if type_ is not None:
        spec["type"] = type_
    wanted = check(parsed(proxy_at("x", 15000)), PROM, ()).services
    assert resolve(wanted, {"x": found_service({"spec": spec})}) == Resolution((), ())


ROOT = Path(__file__).resolve().parents[2]


def shop_services() -> dict[str, dict[str, FoundService]]:
    """The sample shops' Services, by namespace, as the manifests make them."""
    out: dict[str, dict[str, FoundService]] = {}
    for kustomization in (ROOT / "manifests").glob("*/kustomization.yaml"):
        base = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        namespace = base.get("namespace")
        for name in base.get("resources") or []:
            path = kustomization.parent / name
            if not namespace or not path.is_file():
                continue
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc and doc.get("kind") == "Service":
                    found = found_service(doc)
                    out.setdefault(namespace, {})[doc["metadata"]["name"]] = found
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_reaches_only_the_shops_own_services(path: Path) -> None:
    services = shop_services()
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        scenario = parse_scenario(doc)
        verdict = check(scenario, PROM, ())
        assert verdict.problems == ()
        assert resolve(verdict.services, services[scenario.namespace]) == Resolution((), ())


@pytest.mark.parametrize(
    ("raw", "domain"),
    [(None, "cluster.local"), ("corp.example", "corp.example"), ("corp.example.", "corp.example")],
)
def test_the_cluster_domain_is_a_dns_name(raw: str | None, domain: str) -> None:
    env = {} if raw is None else {"GAMEDAY_CLUSTER_DOMAIN": raw}
    assert Config.from_env(env).cluster_domain == domain


@pytest.mark.parametrize("raw", ["a..b", "-x.local", "Cluster.Local", "a/b", "a b"])
def test_a_cluster_domain_that_is_no_dns_name_stops_the_operator(raw: str) -> None:
    with pytest.raises(ConfigError, match="GAMEDAY_CLUSTER_DOMAIN"):
        Config.from_env({"GAMEDAY_CLUSTER_DOMAIN": raw})
