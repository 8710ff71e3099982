"""The shipped Prometheus manifests and scrape config; discovery itself is tested on a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

OBS = Path(__file__).resolve().parents[2] / "manifests" / "observability"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((OBS / name).read_text()) if d]


def test_kustomization_lists_every_manifest_and_the_namespace() -> None:
    kustomization = yaml.safe_load((OBS / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "gameday-system"
    for name in kustomization["resources"]:
        assert (OBS / name).exists(), name
    generated = {g["name"]: g["files"] for g in kustomization["configMapGenerator"]}
    assert generated == {"prometheus-config": ["prometheus.yml"]}


def test_deployment_runs_the_local_image_as_nobody_with_the_expected_flags() -> None:
    (deployment,) = _docs("deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "prometheus"
    assert pod["securityContext"]["runAsUser"] == 65534
    containers = {c["name"]: c for c in pod["containers"]}
    prometheus = containers["prometheus"]
    assert prometheus["image"] == "localhost/gameday-prometheus:dev"
    assert prometheus["imagePullPolicy"] == "IfNotPresent"
    for flag in (
        "--storage.tsdb.path=/prometheus",
        "--config.file=/etc/prometheus/prometheus.yml",
    ):
        assert flag in prometheus["args"]
    # Without the lifecycle API nobody who reaches the port can stop it (POST /-/quit).
    assert not any(arg.startswith("--web.enable-lifecycle") for arg in prometheus["args"])
    mounts = {m["name"]: m["mountPath"] for m in prometheus["volumeMounts"]}
    assert mounts == {"config": "/etc/prometheus", "data": "/prometheus"}


def test_service_and_rbac() -> None:
    (service,) = _docs("service.yaml")
    assert service["metadata"]["name"] == "prometheus"
    assert service["spec"]["ports"][0]["port"] == 9090
    by_kind = {d["kind"]: d for d in _docs("rbac.yaml")}
    rules = by_kind["ClusterRole"]["rules"]
    core = next(r for r in rules if r["apiGroups"] == [""])
    assert {"pods", "endpoints"} <= set(core["resources"])
    assert {"list", "watch"} <= set(core["verbs"])
    subject = by_kind["ClusterRoleBinding"]["subjects"][0]
    assert subject == {
        "kind": "ServiceAccount",
        "name": "prometheus",
        "namespace": "gameday-system",
    }


def test_scrape_config_interval_and_pod_job() -> None:
    config = yaml.safe_load((OBS / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "5s"
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["kubernetes-pods"]["kubernetes_sd_configs"] == [{"role": "pod"}]
