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
from typing import Any
from urllib.parse import urlsplit

from gameday_operator.allow_list import allowed_by
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
    """A Service of the scenario's namespace that a reference names, and the port it uses."""

    path: str
    service: str
    port: int


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
    """What the spec's URLs may not reach, and the in-namespace Services left to look up."""
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
    return Verdict(tuple(problems), tuple(services))


# The Service types whose traffic goes to the endpoints of their own selector. ExternalName is
# an alias of a host the namespace does not own (another namespace's Service, an address).
ROUTED_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


@dataclass(frozen=True)
class FoundService:
    """What confinement reads of a Service a scenario names, as the cluster has it."""

    type: str
    external_name: str
    selects_pods: bool  # False: its endpoints are whatever someone wrote into them by hand
    ports: tuple[int, ...]


def found_service(manifest: Mapping[str, Any]) -> FoundService:
    """The Service object as confinement reads it."""
    spec = manifest.get("spec") or {}
    return FoundService(
        type=str(spec.get("type") or "ClusterIP"),
        external_name=str(spec.get("externalName") or ""),
        selects_pods=bool(spec.get("selector")),
        ports=tuple(int(p["port"]) for p in spec.get("ports") or []),
    )


@dataclass(frozen=True)
class Resolution:
    """What the cluster says of the Services a scenario names: those it may not reach, and
    those that are not there (or lack the port)."""

    not_allowed: tuple[str, ...]
    not_found: tuple[str, ...]


def resolve(wanted: Sequence[ServicePort], found: Mapping[str, FoundService | None]) -> Resolution:
    """Checks each wanted Service against the one `found` under its name (None: not there).

    A Service leads only to its namespace's pods when it is of a routed type and selects pods:
    an ExternalName Service is an alias of any host (db-latency-admin.<other>.svc, the
    operator's Prometheus), and the endpoints of a Service without a selector are written by
    hand and may be any address, other namespaces' pods included.
    """
    not_allowed: list[str] = []
    not_found: list[str] = []
    for want in wanted:
        svc = found.get(want.service)
        named = f"{want.path}: Service {want.service}"
        if svc is None:
            not_found.append(f"{named} not found")
        elif svc.type not in ROUTED_TYPES:
            alias = f" (an alias of {svc.external_name})" if svc.external_name else ""
            not_allowed.append(
                f"{named} is of type {svc.type}{alias}: a scenario may name a Service of "
                f"type {', '.join(ROUTED_TYPES)} that selects pods of its namespace"
            )
        elif not svc.selects_pods:
            not_allowed.append(
                f"{named} has no selector: its endpoints are written by hand and may lead "
                "anywhere, other namespaces included; a scenario may name a Service that "
                "selects pods of its namespace"
            )
        elif want.port not in svc.ports:
            shown = ", ".join(str(p) for p in svc.ports) or "none"
            not_found.append(f"{named} has no port {want.port} (has {shown})")
    return Resolution(tuple(not_allowed), tuple(not_found))


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
