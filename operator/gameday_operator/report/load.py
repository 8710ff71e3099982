"""Where a report's inputs come from: exported FailureScenarios, audit results, the cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

GROUP = "gameday.io"
VERSION = "v1alpha1"
PLURAL = "failurescenarios"


def single_scenario(document: Any, source: str) -> dict[str, Any]:
    """A FailureScenario, or a `kind: List` holding exactly one (what `kubectl get -o yaml`
    prints for a label selector)."""
    if not isinstance(document, dict):
        raise ValueError(f"{source}: not a FailureScenario document")
    if document.get("kind") == "List" or (
        "items" in document and "spec" not in document and "status" not in document
    ):
        items = document.get("items") or []
        if len(items) != 1:
            raise ValueError(f"{source}: a list of {len(items)} objects; export one scenario")
        document = items[0]
        if not isinstance(document, dict):
            raise ValueError(f"{source}: not a FailureScenario document")
    kind = document.get("kind")
    if kind not in (None, "FailureScenario"):
        raise ValueError(f"{source}: kind {kind!r}, expected FailureScenario")
    if not isinstance(document.get("status"), dict):
        raise ValueError(f"{source}: no status; has the scenario run?")
    return document


def load_scenario_file(path: Path) -> dict[str, Any]:
    """YAML or JSON (JSON is YAML) as `kubectl get fsc NAME -o yaml|json` writes it."""
    return single_scenario(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def load_scenarios_file(path: Path) -> list[dict[str, Any]]:
    """Every FailureScenario of a file: one, or a `kind: List` of them (`kubectl get fsc -o
    yaml` with a selector); each must have run."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = document.get("items") if isinstance(document, dict) else None
    if isinstance(document, dict) and "spec" not in document and isinstance(items, list):
        return [single_scenario(item, f"{path}: items[{n}]") for n, item in enumerate(items)]
    return [single_scenario(document, str(path))]


def load_audit_file(path: Path) -> dict[str, Any]:
    """`shop audit --json` output: {"checked": n, "lost": [...], "duplicates": [...], ...}."""
    audit = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(audit, dict) or "checked" not in audit:
        raise ValueError(f"{path}: not the output of `shop audit --json`")
    return audit


def load_traffic_file(path: Path) -> list[dict[str, Any]]:
    """The customers' `gameday-chaos load --summary` output: one summary, or an object of
    them by name (the demo's traffic-<shape>.json: {"orders": ..., "catalog": ...})."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, dict) and "timeline" not in document and "sent" not in document:
        summaries = list(document.values())
    else:
        summaries = [document]
    if not summaries or not all(isinstance(s, dict) and "sent" in s for s in summaries):
        raise ValueError(f"{path}: not the output of `gameday-chaos load --summary`")
    return summaries


def split_reference(reference: str) -> tuple[str, str]:
    """'NAMESPACE/NAME' → (namespace, name)."""
    namespace, sep, name = reference.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"expected NAMESPACE/NAME, got {reference!r}")
    return namespace, name


def load_scenario_from_cluster(reference: str) -> dict[str, Any]:
    """Reads NAMESPACE/NAME with the kubernetes client (kubeconfig, else in-cluster)."""
    from kubernetes import client, config

    namespace, name = split_reference(reference)
    try:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    api = client.CustomObjectsApi()
    document = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return single_scenario(document, reference)
