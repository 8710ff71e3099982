"""What a plan sees: the target Deployment, its pods and its HPA as the shell read them, the
scenario and the clock. Pure: every planner is a function of a `Planning`, tested without a
cluster.

The shell reads the Deployment once a tick (`shell.gather`) and, when an intent is to be
planned, the ReplicaSets, pods and HPA (`shell.target`); `read_target` makes them a `Target`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any]) -> Container:
        return cls(name=str(raw["name"]), resources=dict(raw.get("resources") or {}))


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
class Target:
    """The target Deployment, its running pods and the HPA of the same name (if any)."""

    deployment: TargetDeployment
    pods: tuple[TargetPod, ...] = ()
    hpa: JsonDict | None = None  # its spec


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


def read_target(
    deployment: Mapping[str, Any],
    replica_sets: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    hpa: Mapping[str, Any] | None = None,
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
