"""Where a scenario may reach: Services of its own namespace, and what the operator allows.

A scenario names what the operator (the latency proxy's admin API, Prometheus) or a chaos Job
(the traffic spike) then acts on. Left free, a scenario in one namespace could send load into,
reconfigure, or read from anything the operator can reach. So a fault names a Service of the
scenario's own namespace as an object (name, port, path), from which the operator builds the
URL itself; a free URL is taken only under a prefix of the operator's allow-list
(GAMEDAY_ALLOWED_URLS); Prometheus is the operator's own (GAMEDAY_PROMETHEUS_URL) unless the
allow-list names another. A named Service must lead only to pods of the namespace
(`resolve`). Pure: the shell looks up the Services this asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gameday_operator.allow_list import allowed_by
from gameday_operator.faultspec import DEFINITIONS
from gameday_operator.model import Scenario, ServiceRef

PROMETHEUS_URL = "spec.steadyState.prometheus.url"


@dataclass(frozen=True)
class ServicePort:
    """A Service of the scenario's namespace that a fault names (at `path` in the spec), and
    the port it uses (None: a network fault's destination that names the Service as a whole)."""

    path: str
    service: str
    port: int | None


@dataclass(frozen=True)
class Verdict:
    """Problems found in the spec alone, and the Services the shell must find to finish."""

    problems: tuple[str, ...]
    services: tuple[ServicePort, ...]


def check(scenario: Scenario, default_prometheus: str, allowed: Sequence[str]) -> Verdict:
    """What the spec may not reach, and the Services of its namespace (those its faults name as
    targets and as network destinations) left to look up."""
    problems: list[str] = []
    services: list[ServicePort] = []
    listed = ", ".join(allowed) if allowed else "none"
    ns = scenario.namespace
    for fault in scenario.spec.faults:
        definition = DEFINITIONS[fault.type]
        at = f"spec.faults[{fault.index}].{definition.block}"
        for ref in definition.references_of(fault):
            path = f"{at}.{ref.key}"
            if isinstance(ref.destination, ServiceRef):
                services.append(ServicePort(path, ref.destination.service, ref.destination.port))
            elif allowed_by(ref.destination, allowed) is None:
                problems.append(
                    f"{path} {ref.destination} is not under a URL prefix the operator allows "
                    f"(GAMEDAY_ALLOWED_URLS: {listed}); name a Service of namespace {ns} "
                    f"instead: {definition.block}.{ref.service_key}"
                )
    # A network fault's destinations name Services by name alone, so in the scenario's own
    # namespace by construction; they are checked as the other Services are.
    for fault in scenario.spec.faults:
        definition = DEFINITIONS[fault.type]
        at = f"spec.faults[{fault.index}].{definition.block}"
        for named in definition.services_of(fault):
            services.append(ServicePort(f"{at}.{named.key}", named.name, named.port))
    prom = scenario.spec.steady_state.prometheus
    url = (prom.url or default_prometheus) if prom is not None else None  # None: time-based
    if url == "":
        problems.append(
            f"{PROMETHEUS_URL} is empty and the operator has no Prometheus configured "
            "(GAMEDAY_PROMETHEUS_URL)"
        )
    elif url is not None and url != default_prometheus and allowed_by(url, allowed) is None:
        problems.append(
            f"{PROMETHEUS_URL} {url} is not the operator's Prometheus "
            f"({default_prometheus or 'none configured'}) nor under an allowed URL "
            f"(GAMEDAY_ALLOWED_URLS: {listed})"
        )
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
        elif want.port is not None and want.port not in svc.ports:
            shown = ", ".join(str(p) for p in svc.ports) or "none"
            not_found.append(f"{named} has no port {want.port} (has {shown})")
    return Resolution(tuple(not_allowed), tuple(not_found))
