"""Where a scenario may reach: Services of its own namespace, and what the operator allows.

A scenario names URLs that the operator (the latency proxy's admin API, Prometheus) or a chaos
Job (the traffic spike) then acts on. Left free, a scenario in one namespace could send load
into, reconfigure, or read from anything the operator can reach. So every URL must name a
Service of the scenario's own namespace, or begin with a prefix of the operator's allow-list
(GAMEDAY_ALLOWED_URLS); Prometheus is the operator's own (GAMEDAY_PROMETHEUS_URL) unless the
allow-list names another. Pure: the shell looks up the Services this asks for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gameday_operator.faultspec import DEFINITIONS
from gameday_operator.model import Scenario

# A Service's DNS names inside the cluster: name, name.ns, name.ns.svc, name.ns.svc.<domain>.
_SERVICE_SUFFIX = "svc"


@dataclass(frozen=True)
class Reference:
    """A URL the scenario names, where (its spec path) and whether it is the SLO's Prometheus."""

    path: str
    url: str
    prometheus: bool = False
    by_operator: bool = True  # False: a chaos Job in the scenario's namespace fetches it


@dataclass(frozen=True)
class ServicePort:
    """A Service of the scenario's namespace that a reference names, and the port it uses
    (None: a network fault's destination that names the Service as a whole)."""

    path: str
    service: str
    port: int | None


@dataclass(frozen=True)
class Verdict:
    """Problems found in the spec alone, and the Services the shell must find to finish."""

    problems: tuple[str, ...]
    services: tuple[ServicePort, ...]


def references(scenario: Scenario, default_prometheus: str) -> tuple[Reference, ...]:
    spec = scenario.spec
    out: list[Reference] = []
    for fault in spec.faults:
        definition = DEFINITIONS[fault.type]
        at = f"spec.faults[{fault.index}].{definition.block}"
        for named in definition.urls_of(fault):
            path = f"{at}.{named.key}"
            out.append(Reference(path, named.url, by_operator=named.by_operator))
    prom = spec.steady_state.prometheus
    if prom is not None:
        out.append(
            Reference("spec.steadyState.prometheus.url", prom.url or default_prometheus, True)
        )
    return tuple(out)


def allowed_by(url: str, prefixes: Sequence[str]) -> str | None:
    """The allow-list prefix `url` falls under (same scheme, host and port; path below), if any."""
    u = urlsplit(url)
    for prefix in prefixes:
        p = urlsplit(prefix)
        if (u.scheme, u.hostname, _port(u.scheme, u.port)) != (
            p.scheme,
            p.hostname,
            _port(p.scheme, p.port),
        ):
            continue
        base = p.path.rstrip("/")
        if u.path == base or u.path.startswith(base + "/") or not base:
            return prefix
    return None


def service_in(url: str, namespace: str, *, qualified: bool) -> tuple[str, int] | None:
    """(Service name, port) when the URL's host is a Service of `namespace`, else None.

    The forms are name.ns, name.ns.svc and name.ns.svc.<cluster domain>; a bare `name` only
    when not `qualified`: it resolves in the namespace of whoever looks it up, which is the
    scenario's for a chaos Job but the operator's own for the operator.
    """
    u = urlsplit(url)
    host = (u.hostname or "").rstrip(".")
    if not host or _is_ip(host):
        return None
    labels = host.split(".")
    if not all(labels):
        return None
    name, rest = labels[0], labels[1:]
    if not rest and qualified:
        return None
    if rest and rest[0] != namespace:
        return None  # another namespace, or a host outside the cluster
    if len(rest) >= 2 and rest[1] != _SERVICE_SUFFIX:
        return None
    return name, _port(u.scheme, u.port)


def check(scenario: Scenario, default_prometheus: str, allowed: Sequence[str]) -> Verdict:
    """What the spec's URLs may not reach, and the in-namespace Services (those the URLs and
    the network faults' destinations name) left to look up."""
    problems: list[str] = []
    services: list[ServicePort] = []
    listed = ", ".join(allowed) if allowed else "none"
    for ref in references(scenario, default_prometheus):
        if ref.prometheus:
            if not ref.url:
                problems.append(
                    f"{ref.path} is empty and the operator has no Prometheus configured "
                    "(GAMEDAY_PROMETHEUS_URL)"
                )
            elif ref.url != default_prometheus and allowed_by(ref.url, allowed) is None:
                problems.append(
                    f"{ref.path} {ref.url} is not the operator's Prometheus "
                    f"({default_prometheus or 'none configured'}) nor under an allowed URL "
                    f"(GAMEDAY_ALLOWED_URLS: {listed})"
                )
            continue
        if allowed_by(ref.url, allowed) is not None:
            continue
        ns = scenario.namespace
        found = service_in(ref.url, ns, qualified=ref.by_operator)
        if found is None:
            forms = f"name.{ns}.svc" if ref.by_operator else f"name or name.{ns}.svc"
            problems.append(
                f"{ref.path} {ref.url} is not a Service of namespace {ns}: a scenario may "
                f"name Services of its own namespace ({forms}) or URLs under an allowed "
                f"prefix (GAMEDAY_ALLOWED_URLS: {listed})"
            )
            continue
        services.append(ServicePort(ref.path, found[0], found[1]))
    # A network fault's destinations name Services by name alone, so in the scenario's own
    # namespace by construction: they need only be there (with the port named, if one is).
    for fault in scenario.spec.faults:
        definition = DEFINITIONS[fault.type]
        at = f"spec.faults[{fault.index}].{definition.block}"
        for named in definition.services_of(fault):
            services.append(ServicePort(f"{at}.{named.key}", named.name, named.port))
    return Verdict(tuple(problems), tuple(services))


def unresolved(
    wanted: Sequence[ServicePort], ports_by_service: Mapping[str, Sequence[int] | None]
) -> tuple[str, ...]:
    """Problems for Services that do not exist, or do not serve the port the URL uses.

    `ports_by_service` maps each wanted Service name to its spec.ports[].port, or None when the
    Service does not exist.
    """
    problems: list[str] = []
    for want in wanted:
        ports = ports_by_service.get(want.service)
        if ports is None:
            problems.append(f"{want.path}: Service {want.service} not found")
        elif want.port is not None and want.port not in ports:
            shown = ", ".join(str(p) for p in ports) or "none"
            problems.append(
                f"{want.path}: Service {want.service} has no port {want.port} (has {shown})"
            )
    return tuple(problems)


def _port(scheme: str, port: int | None) -> int:
    if port is not None:
        return port
    return 443 if scheme == "https" else 80


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
