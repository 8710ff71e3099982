"""What a plan sees: the target Deployment, its pods, its HPA and the Services its faults name,
as the shell read them, the scenario and the clock. Pure: every planner is a function of a
`Planning`, tested without a cluster.

The shell reads the Deployment once a tick (`shell.gather`) and, when an intent is to be
planned, the ReplicaSets, pods, HPA and named Services (`shell.target`); `read_target` makes
them a `Target`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gameday_operator import selectors
from gameday_operator.config import Config
from gameday_operator.model.changes import ActuatorError
from gameday_operator.model.enums import JsonDict
from gameday_operator.model.spec import Scenario


@dataclass(frozen=True)
class Container:
    name: str
    resources: JsonDict  # requests/limits as the spec has them; {} when it sets none
    # Its environment variables that have a literal value (valueFrom ones are left out).
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any]) -> Container:
        env = {
            str(e["name"]): str(e.get("value") or "")
            for e in raw.get("env") or ()
            if "name" in e and "valueFrom" not in e
        }
        return cls(name=str(raw["name"]), resources=dict(raw.get("resources") or {}), env=env)


@dataclass(frozen=True)
class TargetPod:
    name: str
    containers: tuple[Container, ...]


@dataclass(frozen=True)
class TargetDeployment:
    name: str
    replicas: int  # spec.replicas
    strategy: JsonDict | None  # spec.strategy as it stands
    template_annotations: Mapping[str, str]
    containers: tuple[Container, ...]


@dataclass(frozen=True)
class ServicePort:
    """A port of a Service (`port`, the one clients dial) or of an EndpointSlice (`port`, the
    one its pods serve it on); `name` ties the two together ("" for a Service's only port)."""

    name: str
    port: int
    protocol: str  # TCP, UDP or SCTP


@dataclass(frozen=True)
class EndpointGroup:
    """One EndpointSlice of a Service: its pods' addresses, and the ports each serves."""

    addresses: tuple[str, ...]
    ports: tuple[ServicePort, ...]


@dataclass(frozen=True)
class TargetService:
    """A Service of the scenario's namespace that a fault names, with the pods behind it."""

    name: str
    cluster_ips: tuple[str, ...]  # none for a headless or ExternalName Service
    ports: tuple[ServicePort, ...]
    endpoints: tuple[EndpointGroup, ...] = ()


@dataclass(frozen=True)
class Target:
    """The target Deployment, its running pods, the HPA of the same name (if any) and the
    Services the faults name (read only when a fault names one)."""

    deployment: TargetDeployment
    pods: tuple[TargetPod, ...] = ()
    hpa: JsonDict | None = None  # its spec
    services: tuple[TargetService, ...] = ()

    def service(self, name: str) -> TargetService:
        found = next((s for s in self.services if s.name == name), None)
        if found is None:
            raise ActuatorError(f"Service {name} not found")
        return found


def find_container(containers: Sequence[Container], wanted: str | None, owner: str) -> Container:
    """The container named `wanted` (None: the first) of `owner`, a pod or a template."""
    if wanted is None:
        return containers[0]
    for c in containers:
        if c.name == wanted:
            return c
    raise ActuatorError(f"{owner} has no container {wanted!r}")


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The UID of the object's controller (the ownerReference with controller: true)."""
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in refs if r.get("controller")), None)


def pods_query(namespace: str, deployment: Mapping[str, Any]) -> str:
    """The Deployment's selector as the label-selector string of a list call."""
    try:
        return selectors.to_query(deployment["spec"]["selector"])
    except selectors.InvalidSelector as exc:
        name = deployment["metadata"]["name"]
        raise ActuatorError(f"Deployment {namespace}/{name}: {exc}") from exc


def target_pods(
    deployment: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """Running, not terminating pods of the Deployment: the pods its ReplicaSets control (as
    its controller counts them) that match its whole selector.

    Labels alone do not say whose a pod is: an empty or expression-only selector, or one
    another workload's labels also satisfy, selects other Deployments' pods too. The API
    server lists by the selector (`pods_query`); the owners and `selectors.matches` decide.
    In-place resize and every pod fault take their pods from here.
    """
    selector = deployment["spec"]["selector"]
    uid = deployment["metadata"]["uid"]
    owners = {rs["metadata"]["uid"] for rs in replica_sets if controller_uid(rs) == uid}
    return [
        p
        for p in pods
        if controller_uid(p) in owners
        and selectors.matches(selector, p["metadata"].get("labels") or {})
        and (p.get("status") or {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    ]


# Why a container waits that no wait cures by itself: the image cannot be pulled, the
# container cannot be made from its spec (a missing Secret or ConfigMap), or it keeps crashing.
STUCK_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
    }
)


def rollout_blockers(
    deployment: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> tuple[str, ...]:
    """Why the Deployment's rollout cannot finish, as Kubernetes reports it: pods of its own
    ReplicaSets the scheduler cannot place, containers stuck waiting (`STUCK_WAITING`), and
    pods its ReplicaSets could not create (a quota: the Deployment's ReplicaFailure).

    A pod that is merely starting, or Pending for a moment while the scheduler works, is no
    blocker: only what Kubernetes has itself called a failure is.
    """
    uid = deployment["metadata"]["uid"]
    owners = {rs["metadata"]["uid"] for rs in replica_sets if controller_uid(rs) == uid}
    found: list[str] = []
    for p in pods:
        if controller_uid(p) not in owners or p["metadata"].get("deletionTimestamp"):
            continue
        name = p["metadata"]["name"]
        st = p.get("status") or {}
        for c in st.get("conditions") or []:
            unschedulable = (c.get("type"), c.get("status"), c.get("reason")) == (
                "PodScheduled",
                "False",
                "Unschedulable",
            )
            if unschedulable:
                found.append(f"pod {name} cannot be scheduled: {c.get('message') or ''}".strip())
        statuses = [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])]
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_WAITING:
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                found.append(f"pod {name} container {cs.get('name')}: {waiting['reason']}{detail}")
    for c in (deployment.get("status") or {}).get("conditions") or []:
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True":
            found.append(f"{c.get('reason') or 'ReplicaFailure'}: {c.get('message') or ''}".strip())
    return tuple(found)


def _ports(raw: Sequence[Mapping[str, Any]] | None) -> tuple[ServicePort, ...]:
    return tuple(
        ServicePort(str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP"))
        for p in raw or ()
        if p.get("port") is not None
    )


def read_service(
    service: Mapping[str, Any], endpoint_slices: Sequence[Mapping[str, Any]] = ()
) -> TargetService:
    """A Service and its EndpointSlices as the API server returned them."""
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return TargetService(
        name=str(service["metadata"]["name"]),
        cluster_ips=tuple(str(ip) for ip in ips if ip and ip != "None"),
        ports=_ports(spec.get("ports")),
        endpoints=tuple(
            EndpointGroup(
                addresses=tuple(
                    str(a) for e in s.get("endpoints") or () for a in e.get("addresses") or ()
                ),
                ports=_ports(s.get("ports")),
            )
            for s in endpoint_slices
        ),
    )


def read_target(
    deployment: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    hpa: Mapping[str, Any] | None = None,
    services: Sequence[TargetService] = (),
) -> Target:
    """The target as planning sees it, from the objects as the API server returned them."""
    spec = deployment["spec"]
    template = spec["template"]
    return Target(
        deployment=TargetDeployment(
            name=str(deployment["metadata"]["name"]),
            replicas=int(spec.get("replicas", 1)),
            strategy=spec.get("strategy"),
            template_annotations=dict((template.get("metadata") or {}).get("annotations") or {}),
            containers=tuple(Container.from_spec(c) for c in template["spec"]["containers"]),
        ),
        pods=tuple(
            TargetPod(
                name=str(p["metadata"]["name"]),
                containers=tuple(Container.from_spec(c) for c in p["spec"]["containers"]),
            )
            for p in target_pods(deployment, replica_sets, pods)
        ),
        hpa=None if hpa is None else dict(hpa["spec"]),
        services=tuple(services),
    )


def remaining_seconds(scenario: Scenario, started_at: datetime | None, now: datetime) -> float:
    """Seconds until the scenario's duration ends (at least 1)."""
    end = (started_at or now).timestamp() + scenario.spec.duration_seconds
    return max(1.0, end - now.timestamp())


@dataclass(frozen=True)
class Planning:
    """Everything a planner reads: nothing else, and nothing it could read for itself."""

    scenario: Scenario
    config: Config
    target: Target
    now: datetime
    started_at: datetime | None  # status.timeline.startedAt

    @property
    def namespace(self) -> str:
        return self.scenario.namespace

    @property
    def remaining_seconds(self) -> float:
        return remaining_seconds(self.scenario, self.started_at, self.now)

    def container(self, containers: Sequence[Container], owner: str) -> Container:
        """The target container (`spec.target.container`, else the first) among `containers`
        of `owner` (a pod or the Deployment's template, named in the error)."""
        return find_container(containers, self.scenario.spec.target.container, owner)
