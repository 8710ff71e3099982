"""What both remediation families read of the target Deployment."""

from __future__ import annotations

from gameday_operator import builders
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.model import JsonDict


def deployment(ctx: Context) -> JsonDict:
    name = ctx.scenario.spec.target.deployment
    found = ctx.kube.get_deployment(ctx.namespace, name)
    if found is None:
        raise ActuatorError(f"Deployment {ctx.namespace}/{name} not found")
    return found


def container_of(d: JsonDict, wanted: str | None) -> JsonDict:
    containers = d["spec"]["template"]["spec"]["containers"]
    if wanted is None:
        return dict(containers[0])
    for c in containers:
        if c["name"] == wanted:
            return dict(c)
    raise ActuatorError(f"Deployment {d['metadata']['name']} has no container {wanted!r}")


def restarted_at(d: JsonDict) -> str | None:
    annotations = d["spec"]["template"].get("metadata", {}).get("annotations") or {}
    value = annotations.get(builders.RESTARTED_AT)
    return str(value) if value is not None else None
