"""One scenario per target: a Lease per target Deployment, held by the scenario acting on it.

Two scenarios on one Deployment undo each other: the second records the first one's doubled
resources as the state to restore. So a scenario claims its target before it is accepted, by
creating a coordination.k8s.io Lease named after the Deployment (creation is atomic: of two
scenarios applied together, one gets a 409). The claim ends when the scenario has ended with
nothing left to revert, or is deleted; the Lease's ownerReference to the scenario lets the
garbage collector remove it should the operator miss both. A second scenario on a busy target
is rejected, not queued: it changes nothing and says which scenario holds the target, and the
user applies it again once that one has ended (a queued game day would start at a moment
nobody chose).

Pure: the shell reads and writes the Leases.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from gameday_operator.builders import dns_label, scenario_labels
from gameday_operator.model import GROUP, VERSION, JsonDict, Scenario, parse_status

KIND = "FailureScenario"


class Claim(enum.Enum):
    OURS = "Ours"  # this scenario holds it (a retried accept, a restarted operator)
    STALE = "Stale"  # its holder is gone or has ended: delete it and claim again
    BUSY = "Busy"  # another running scenario holds it


def lease_name(deployment: str) -> str:
    return dns_label("gameday-target-" + deployment)


def lease(scenario: Scenario) -> JsonDict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(scenario.spec.target.deployment),
            "namespace": scenario.namespace,
            "labels": scenario_labels(scenario.name),
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": scenario.name,
                    "uid": scenario.uid,
                }
            ],
        },
        "spec": {"holderIdentity": scenario.uid},
    }


def holder(lease_body: Mapping[str, Any]) -> tuple[str, str]:
    """(uid, name) of the scenario holding the Lease; ("", "") if it names none."""
    owners = (lease_body.get("metadata") or {}).get("ownerReferences") or []
    owner: Mapping[str, Any] = next((o for o in owners if o.get("kind") == KIND), {})
    uid = str((lease_body.get("spec") or {}).get("holderIdentity") or owner.get("uid") or "")
    return uid, str(owner.get("name") or "")


def claim(
    lease_body: Mapping[str, Any], own_uid: str, holder_body: Mapping[str, Any] | None
) -> Claim:
    """Whose the existing Lease is; `holder_body` is the scenario its owner names, if it exists."""
    uid, _ = holder(lease_body)
    if uid == own_uid:
        return Claim.OURS
    if holder_body is None or (holder_body.get("metadata") or {}).get("uid") != uid:
        return Claim.STALE
    if ended(holder_body):
        return Claim.STALE
    return Claim.BUSY


def ended(body: Mapping[str, Any]) -> bool:
    """The scenario has ended and left nothing to revert: its claim is over."""
    status = parse_status(body.get("status"))
    return status.timeline.completed_at is not None and not status.live_actions


def busy_message(scenario: Scenario, holder_name: str, holder_body: Mapping[str, Any]) -> str:
    phase = (holder_body.get("status") or {}).get("phase") or "unknown"
    return (
        f"Deployment {scenario.namespace}/{scenario.spec.target.deployment} is the target of "
        f"scenario {holder_name} (phase {phase}); one scenario acts on a target at a time. "
        f"Apply this one again once {holder_name} has ended"
    )
