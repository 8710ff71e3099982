"""The Helm chart (charts/gameday) as `helm lint` and `helm template` see it, against the
kustomize base (manifests/operator) as kubectl renders it: the same objects for the same settings.

No cluster needed, only the helm and kubectl binaries that `make test` builds first (`make helm`,
`make binaries`): a missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import base64
import copy
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import CACHE

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gameday"
HELM = CACHE / "bin" / "helm"
KUBECTL = CACHE / "bin" / "kubectl"
# What Helm's conventions add to every object, and the release's name in the selector.
HELM_LABELS = (
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "helm.sh/chart",
)
Json = dict[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name


def run(binary: Path, *args: str) -> str:
    if not binary.exists():
        pytest.fail(f"no {binary.name} at {binary}: run `make {binary.name}`", pytrace=False)
    done = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{binary.name} {' '.join(args)}:\n{done.stderr}"
    return done.stdout + done.stderr


def documents(text: str) -> list[Json]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm_template(*sets: str, release: str = "gameday", namespace: str = "gameday-system") -> str:
    args = [f"--set={s}" for s in sets]
    return run(HELM, "template", release, str(CHART), "-n", namespace, "--include-crds", *args)


@cache
def kustomize(path: str) -> tuple[Json, ...]:
    return tuple(documents(run(KUBECTL, "kustomize", str(REPO / path))))


def opt_in(namespace: str) -> Json:
    """manifests/opt-in/rolebinding.yaml as `kubectl -n NS apply -f` lands it."""
    binding: Json = yaml.safe_load((REPO / "manifests" / "opt-in" / "rolebinding.yaml").read_text())
    binding["metadata"]["namespace"] = namespace
    return binding


def normalised(doc: Json) -> Json:
    """The object without the labels only Helm adds (and the release in the selector), and
    with its environment as a name → value map (order does not matter to the container)."""
    out = copy.deepcopy(doc)
    places = [out["metadata"].get("labels")]
    if out["kind"] == "PodDisruptionBudget":
        places.append(out["spec"]["selector"]["matchLabels"])
    if out["kind"] == "Deployment":
        places += [
            out["spec"]["selector"]["matchLabels"],
            out["spec"]["template"]["metadata"]["labels"],
        ]
        for c in out["spec"]["template"]["spec"]["containers"]:
            c["env"] = {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
    for labels in places:
        for label in HELM_LABELS:
            (labels or {}).pop(label, None)
    return out


def by_key(docs: list[Json] | tuple[Json, ...]) -> dict[Key, Json]:
    out: dict[Key, Json] = {}
    for d in docs:
        key = (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        assert key not in out, f"{key} twice"
        out[key] = normalised(d)
    return out


def compare(chart: list[Json], base: list[Json]) -> None:
    """Object by object: the same names, and each the same once normalised."""
    # The release's namespace is Helm's (--create-namespace), and the status key the chart
    # makes is created by `make deploy` beside the kustomize base: neither is compared here.
    got = by_key([d for d in chart if d["kind"] != "Secret"])
    want = by_key([d for d in base if d["kind"] != "Namespace"])
    assert sorted(got) == sorted(want)
    for key, obj in want.items():
        assert got[key] == obj, key


def test_helm_lint_is_clean() -> None:
    for sets in ([], ["targetNamespaces={team-a,team-b}", "clusterWide=true"]):
        out = run(HELM, "lint", "--strict", str(CHART), *(f"--set={s}" for s in sets))
        assert "0 chart(s) failed" in out, out
        assert "[WARNING]" not in out and "[ERROR]" not in out, out


def test_the_default_install_renders_what_the_kustomize_base_and_opt_in_render() -> None:
    chart = documents(helm_template("targetNamespaces={shop-monolith,team-a}"))
    base = [*kustomize("manifests/operator"), opt_in("shop-monolith"), opt_in("team-a")]
    compare(chart, base)


def test_the_cluster_wide_mode_renders_what_the_cluster_wide_overlay_renders() -> None:
    chart = documents(helm_template("clusterWide=true"))
    compare(chart, list(kustomize("manifests/operator-cluster-wide")))
    # No RoleBinding to ClusterRole <release>-operator-target: the ClusterRoleBinding instead.
    assert not [
        d
        for d in chart
        if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "gameday-operator-target"
    ]


def test_the_crd_is_the_one_in_crds_and_lives_in_the_charts_crds_directory() -> None:
    # In crds/, Helm installs it with the first release and never upgrades or deletes it.
    assert (CHART / "crds" / "failurescenario.yaml").read_text() == (
        REPO / "crds" / "failurescenario.yaml"
    ).read_text()
    assert not list((CHART / "templates").glob("*crd*"))


def test_settings_reach_the_operator_environment_and_objects_carry_helms_labels() -> None:
    docs = documents(
        helm_template(
            "watchNamespaces={team-a,team-b}",
            "allowedUrls={http://a.example/,http://b.example/x/}",
            "prometheusUrl=http://prom.mon.svc:9090",
            "chaos.image=registry.example/chaos:1",
            "chaos.pullPolicy=Always",
            "requireNamespaceLabel=false",
            "revertTimeout=10m",
            "metricsPort=9100",
            "image.repository=registry.example/op",
            "image.tag=1.2",
            "image.pullPolicy=Always",
            "resources.limits.cpu=1",
            release="blue",
            namespace="ops",
        )
    )
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "blue-gameday-operator"
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env == {
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "GAMEDAY_CHAOS_IMAGE": "registry.example/chaos:1",
        "GAMEDAY_CHAOS_PULL_POLICY": "Always",
        "GAMEDAY_TICK_INTERVAL": "2s",
        "GAMEDAY_NAMESPACE": "team-a,team-b",
        "GAMEDAY_PROMETHEUS_URL": "http://prom.mon.svc:9090",
        "GAMEDAY_ALLOWED_URLS": "http://a.example/,http://b.example/x/",
        "GAMEDAY_REQUIRE_NAMESPACE_LABEL": "false",
        "GAMEDAY_REVERT_TIMEOUT": "10m",
        "GAMEDAY_METRICS_PORT": "9100",
        "GAMEDAY_STATUS_KEY": {
            "secretKeyRef": {"name": "blue-gameday-status-key", "key": "key", "optional": True}
        },
    }
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    assert (container["image"], container["imagePullPolicy"]) == (
        "registry.example/op:1.2",
        "Always",
    )
    assert container["resources"]["limits"]["cpu"] == 1
    for d in docs:
        if d["kind"] == "CustomResourceDefinition":
            continue  # from crds/: as written, never templated
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "blue", d["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "gameday-0.1.0"
        assert d["metadata"]["name"].startswith("blue-gameday")
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == "ops"


def test_the_status_key_is_generated_unless_an_existing_secret_is_named() -> None:
    made = [d for d in documents(helm_template()) if d["kind"] == "Secret"]
    assert [d["metadata"]["name"] for d in made] == ["gameday-status-key"]
    key = base64.b64decode(made[0]["data"]["key"]).decode()
    assert len(key) == 64 and key.isalnum()
    # Two renders, two keys: on a real upgrade `lookup` reads the installed one back instead.
    again = next(d for d in documents(helm_template()) if d["kind"] == "Secret")
    assert again["data"]["key"] != made[0]["data"]["key"]

    docs = documents(helm_template("statusKey.existingSecret=sealing"))
    assert not [d for d in docs if d["kind"] == "Secret"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "GAMEDAY_STATUS_KEY")["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "sealing"


def test_two_replicas_with_a_disruption_budget_and_one_without() -> None:
    def kinds(*sets: str) -> dict[str, Json]:
        return {d["kind"]: d for d in documents(helm_template(*sets))}

    two = kinds()
    assert two["Deployment"]["spec"]["replicas"] == 2
    assert two["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    # With one replica a budget of one would block every drain.
    one = kinds("replicaCount=1")
    assert one["Deployment"]["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in one


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("targetNamespace={team-a}", "additional properties 'targetNamespace' not allowed"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("replicaCount=one", "/replicaCount"),
        ("replicaCount=-1", "/replicaCount"),
    ],
)
def test_values_the_chart_does_not_know_are_refused(setting: str, complaint: str) -> None:
    # A misspelt value would otherwise be ignored, and the default silently used.
    assert complaint in refused(setting)


def refused(setting: str) -> str:
    """What `helm template` says when it refuses the setting."""
    if not HELM.exists():
        pytest.fail(f"no helm at {HELM}: run `make helm`", pytrace=False)
    done = subprocess.run(
        [str(HELM), "template", "x", str(CHART), f"--set={setting}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0, f"{setting} was accepted"
    return done.stderr
