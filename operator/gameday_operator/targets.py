"""The shell's side of one scenario per target: claim the target's Lease, release it at the end."""

from __future__ import annotations

from gameday_operator import claims
from gameday_operator.kube import Kube
from gameday_operator.model import Scenario
from gameday_operator.runtime import LoggerLike


class ClaimError(RuntimeError):
    """The target's Lease could be neither claimed nor found: try again later."""


def claim(kube: Kube, scenario: Scenario, logger: LoggerLike) -> str | None:
    """Claims the scenario's target; None when it holds it, else why another scenario does."""
    ns = scenario.namespace
    body = claims.lease(scenario)
    name = body["metadata"]["name"]
    for _ in range(3):
        if kube.create_lease(ns, body):
            logger.info(
                "claimed Deployment %s/%s (Lease %s)", ns, scenario.spec.target.deployment, name
            )
            return None
        existing = kube.get_lease(ns, name)
        if existing is None:
            continue  # released between our create and our read
        _, holder_name = claims.holder(existing)
        holder = kube.get_scenario(ns, holder_name) if holder_name else None
        verdict = claims.claim(existing, scenario.uid, holder)
        if verdict is claims.Claim.OURS:
            return None
        if verdict is claims.Claim.BUSY and holder is not None:
            return claims.busy_message(scenario, holder_name, holder)
        logger.info(
            "Lease %s/%s held by scenario %s, which has ended or is gone: released",
            ns,
            name,
            holder_name or "(none)",
        )
        kube.delete_lease(ns, name, existing["metadata"]["uid"])
    raise ClaimError(f"Lease {ns}/{name} changed hands three times while being claimed")


def release(kube: Kube, scenario: Scenario, logger: LoggerLike) -> None:
    """Releases the target if this scenario holds it; nothing if another does or none does."""
    ns = scenario.namespace
    name = claims.lease_name(scenario.spec.target.deployment)
    existing = kube.get_lease(ns, name)
    if existing is None or claims.holder(existing)[0] != scenario.uid:
        return
    if kube.delete_lease(ns, name, existing["metadata"]["uid"]):
        logger.info(
            "released Deployment %s/%s (Lease %s)", ns, scenario.spec.target.deployment, name
        )
