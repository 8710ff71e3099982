"""A new FailureScenario: check what only the operator can check, then accept or reject it."""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from gameday_operator import confinement, engine, remediation, sources, targets
from gameday_operator.model import (
    ENABLED_LABEL,
    Scenario,
    SpecError,
    Status,
    parse_scenario,
    parse_status,
)
from gameday_operator.model.target import read_target
from gameday_operator.runtime import LoggerLike, Runtime
from gameday_operator.shell import utcnow


def reject(
    rt: Runtime,
    body: kopf.Body,
    scenario: Scenario | None,
    reason: str,
    message: str,
    logger: LoggerLike,
) -> None:
    """Failed + Accepted=False + a Warning Event; nothing in the cluster is touched."""
    meta = body["metadata"]
    generation = scenario.generation if scenario else int(meta.get("generation") or 0)
    step = engine.reject(generation, parse_status(body.get("status")), reason, message, utcnow())
    rt.kube.patch_scenario_status(meta["namespace"], meta["name"], step.status.to_dict())
    _emit(body, step)
    logger.warning(
        "rejected scenario %s/%s: %s: %s", meta["namespace"], meta["name"], reason, message
    )
    raise kopf.PermanentError(f"{reason}: {message}")


def accept(rt: Runtime, body: kopf.Body, logger: LoggerLike) -> Status | None:
    meta = body["metadata"]
    current = parse_status(body.get("status"))
    if current.phase is not None:
        return None  # already accepted or rejected (idempotent on retries and restarts)
    try:
        scenario = parse_scenario(body)
    except SpecError as exc:
        reject(rt, body, None, "InvalidSpec", str(exc), logger)
        return None
    if rt.config.require_namespace_label:
        ns = rt.kube.get_namespace(scenario.namespace) or {}
        labels = (ns.get("metadata") or {}).get("labels") or {}
        if labels.get(ENABLED_LABEL) != "true":
            reject(
                rt,
                body,
                scenario,
                "NamespaceNotEnabled",
                f'namespace {scenario.namespace} is not labeled {ENABLED_LABEL}="true"; '
                "the operator runs game days only where they are opted in",
                logger,
            )
    target = scenario.spec.target
    try:
        d = rt.kube.get_deployment(scenario.namespace, target.deployment)
    except ApiException as exc:
        if exc.status != 403:
            raise
        reject(
            rt,
            body,
            scenario,
            "NamespaceNotBound",
            f"the operator has no rights on workloads in namespace {scenario.namespace}: "
            f"bind ClusterRole gameday-operator-target there (make opt-in NS="
            f"{scenario.namespace}, or kubectl -n {scenario.namespace} apply -f "
            "manifests/opt-in/rolebinding.yaml)",
            logger,
        )
        return None
    if d is None:
        reject(
            rt,
            body,
            scenario,
            "TargetNotFound",
            f"Deployment {scenario.namespace}/{target.deployment} not found",
            logger,
        )
        return None
    names = [c["name"] for c in d["spec"]["template"]["spec"]["containers"]]
    if target.container is not None and target.container not in names:
        reject(
            rt,
            body,
            scenario,
            "TargetNotFound",
            f"Deployment {target.deployment} has no container {target.container!r} "
            f"(has {', '.join(names)})",
            logger,
        )
    if scenario.spec.remediation.steps:
        hpa = rt.kube.get_hpa(scenario.namespace, target.deployment)
        problems = remediation.playbook_problems(scenario, read_target(d, hpa=hpa))
        if problems:
            reject(rt, body, scenario, "PlaybookNotApplicable", "; ".join(problems), logger)
    confine(rt, body, scenario, logger)
    try:
        busy = targets.claim(rt.kube, scenario, logger)
    except targets.ClaimError as exc:
        raise kopf.TemporaryError(str(exc), delay=5) from exc
    if busy is not None:
        reject(rt, body, scenario, "TargetBusy", busy, logger)
    step = engine.accept(scenario, current, utcnow())
    rt.kube.patch_scenario_status(meta["namespace"], meta["name"], step.status.to_dict())
    _emit(body, step)
    logger.info(
        "accepted scenario: %d fault(s) against %s Deployment %s/%s",
        len(scenario.spec.faults),
        target.architecture,
        scenario.namespace,
        target.deployment,
    )
    return step.status


def _emit(body: kopf.Body, step: engine.Step) -> None:
    for event in step.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def confine(rt: Runtime, body: kopf.Body, scenario: Scenario, logger: LoggerLike) -> None:
    """Rejects a scenario whose URLs reach beyond its namespace, or name Services that are not
    there or may lead out of it (`confinement.resolve`)."""
    verdict = confinement.check(scenario, rt.config.prometheus_url, rt.config.allowed_urls)
    if verdict.problems:
        reject(rt, body, scenario, "ReferenceNotAllowed", "; ".join(verdict.problems), logger)
    found: dict[str, confinement.FoundService | None] = {}
    for name in {want.service for want in verdict.services}:
        svc = rt.kube.get_service(scenario.namespace, name)
        found[name] = None if svc is None else confinement.found_service(svc)
    resolution = confinement.resolve(verdict.services, found)
    if resolution.not_allowed:
        problems = (*resolution.not_allowed, *resolution.not_found)
        reject(rt, body, scenario, "ReferenceNotAllowed", "; ".join(problems), logger)
    if resolution.not_found:
        reject(rt, body, scenario, "ReferenceNotFound", "; ".join(resolution.not_found), logger)
    unscoped = sources.unscoped_queries(scenario, rt.config)
    if unscoped:
        reject(rt, body, scenario, "QueryNotConfined", "; ".join(unscoped), logger)


def handle(rt: Runtime, body: kopf.Body, logger: LoggerLike, **_: Any) -> None:
    accept(rt, body, logger)
