"""The Helm chart on the local cluster: `helm install` brings up the operator with two replicas
(one leads), a game day runs to its end with everything reverted, and `helm uninstall` leaves
no object of the release (the Lease the replicas made is the operator's, and goes with the
release namespace).

The release lives in a namespace of its own and watches only the test's namespace, with its
cluster-scoped objects named after the release: it runs beside the operator `make deploy`
installed, and leaves that one, its ClusterRoles and the CRD as they were. The CRD is in the
chart's crds/ directory, which Helm installs only when it is missing and never deletes: it
outlives the release.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import CACHE, Cluster, wait_until
from tests.fixtures.k8s import json_of
from tests.fixtures.operator import DEPLOYED, deployed_operator_stopped
from tests.fixtures.workloads import echo_deployment

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gameday"
HELM = CACHE / "bin" / "helm"
CRD = "failurescenarios.gameday.io"
GROUP, VERSION, PLURAL = "gameday.io", "v1alpha1", "failurescenarios"
TERMINAL = ("Recovered", "Failed", "Aborted")
Json = dict[str, Any]


def helm(cluster: Cluster, *args: str, timeout: float = 300) -> str:
    if not HELM.exists():
        pytest.fail(f"no helm at {HELM}: run `make helm`", pytrace=False)
    done = subprocess.run(
        [str(HELM), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def release_objects(cluster: Cluster, release: str) -> list[str]:
    """Every object, of every kind that can be listed, namespaced or not, that carries the
    release's instance label. metrics.k8s.io is left out: its pod and node figures are views of
    pods and nodes, not objects, and an aggregated API that is briefly unavailable fails the
    discovery of its kinds only."""
    kinds = [
        kind
        for kind in cluster.kubectl(
            "api-resources", "--verbs=list", "-o", "name", check=False
        ).split()
        if not kind.endswith(".metrics.k8s.io")
    ]
    assert {"pods", "deployments.apps", "clusterroles.rbac.authorization.k8s.io"} <= set(kinds)
    out = cluster.kubectl(
        "get",
        ",".join(kinds),
        "--all-namespaces",
        "--ignore-not-found",
        "-l",
        f"app.kubernetes.io/instance={release}",
        "-o",
        "name",
        timeout=180,
    )
    return out.split()


def scenario(name: str, deployment: str) -> Json:
    """A time-based game day without Prometheus: CPU stress, then the monolith's vertical
    resize two seconds after injection, recovered once the pods stay ready for the window."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": {
            "target": {"architecture": "monolith", "deployment": deployment, "container": "app"},
            "faults": [
                {"type": "CPUStress", "selector": {"mode": "All"}, "cpuStress": {"load": 10}}
            ],
            "duration": "120s",
            "steadyState": {"window": "6s"},
            "remediation": {
                "mode": "Auto",
                "after": "2s",
                "monolith": {"cpuFactor": 2, "maxCpu": "200m", "rollout": "Full"},
            },
        },
    }


def watched_by_the_deployed_operator(cluster: Cluster, namespace: str) -> bool:
    """Whether the operator `make deploy` installed (if any) watches `namespace`: its
    GAMEDAY_NAMESPACE empty (every namespace) or a glob that matches."""
    found = cluster.kubectl(
        "get", "-n", DEPLOYED[0], "deployment", DEPLOYED[1], "--ignore-not-found", "-o", "json"
    )
    if not found:
        return False
    container = json.loads(found)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    globs = [g.strip() for g in env.get("GAMEDAY_NAMESPACE", "").split(",") if g.strip()]
    return not globs or any(fnmatch.fnmatchcase(namespace, g) for g in globs)


def test_helm_install_runs_a_game_day_and_uninstall_leaves_nothing_of_the_release(
    kube_cluster: Cluster, namespace: str
) -> None:
    # Two operators would both act on the scenario: the deployed one stands aside only if it
    # watches the test's namespace too (one that watches only the shops is left running).
    with ExitStack() as stack:
        if watched_by_the_deployed_operator(kube_cluster, namespace):
            stack.enter_context(deployed_operator_stopped(kube_cluster))
        install_play_uninstall(kube_cluster, namespace)


def install_play_uninstall(cluster: Cluster, namespace: str) -> None:
    custom = client.CustomObjectsApi(cluster.api)
    suffix = uuid.uuid4().hex[:5]
    release, release_ns = f"gd-{suffix}", f"gameday-helm-{suffix}"
    # On a fresh cluster the release installs the CRD from crds/; otherwise Helm leaves it be.
    crd_before = crd_meta(cluster)
    deployed = deployed_rbac(cluster)
    installed = False
    try:
        helm(
            cluster,
            "install",
            release,
            str(CHART),
            "--namespace",
            release_ns,
            "--create-namespace",
            f"--set=watchNamespaces={{{namespace}}}",
            f"--set=targetNamespaces={{{namespace}}}",
            "--set=image.pullPolicy=Never",
            "--set=prometheusUrl=",
            "--set=tickInterval=1s",
            "--set=sampleInterval=1s",
            # Small requests: the node (2 CPUs) may hold the shops too.
            "--set=resources.requests.cpu=20m",
            "--wait",
            "--timeout=3m",
        )
        installed = True
        deployment = get(cluster, "-n", release_ns, "deployment", f"{release}-gameday-operator")
        # Two replicas: one leads (the Lease in the release namespace), one stands by.
        assert deployment["status"]["readyReplicas"] == 2
        holder = wait_until(
            lambda: lease_holder(cluster, release_ns), 60, "a replica to take the Lease"
        )
        assert holder.startswith(f"{release}-gameday-operator-"), holder
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["GAMEDAY_NAMESPACE"] == namespace
        # An upgrade keeps the status key the install generated (the seals of running
        # scenarios stay valid).
        key = get(cluster, "-n", release_ns, "secret", f"{release}-gameday-status-key")["data"]
        helm(
            cluster,
            "upgrade",
            release,
            str(CHART),
            "--namespace",
            release_ns,
            "--reuse-values",
            "--wait",
            "--timeout=3m",
        )
        assert (
            get(cluster, "-n", release_ns, "secret", f"{release}-gameday-status-key")["data"] == key
        )
        crd = crd_meta(cluster)
        assert crd is not None
        if crd_before is not None:
            assert (crd["uid"], crd["resourceVersion"]) == (
                crd_before["uid"],
                crd_before["resourceVersion"],
            ), "Helm changed the CRD that was there"

        utils.create_from_dict(  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated
            cluster.api,
            echo_deployment("shop", cpu=("10m", "100m")),
            namespace=namespace,
        )
        cluster.kubectl("rollout", "status", "-n", namespace, "deployment/shop", "--timeout=120s")
        before = resources(cluster, namespace, "shop")
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, scenario("helm", "shop")
        )

        def finished() -> Json | None:
            got = json_of(
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "helm")
            )
            status: Json = got.get("status") or {}
            return status if (status.get("timeline") or {}).get("completedAt") else None

        done = wait_until(finished, 240, "the game day to end")
        assert done["phase"] == "Recovered", (done.get("reason"), done.get("message"))
        kinds = [a["kind"] for a in done["actions"]]
        assert "CPUStressContainer" in kinds and "VerticalResize" in kinds, kinds
        assert all(a["state"] == "Reverted" for a in done["actions"]), done["actions"]
        assert resources(cluster, namespace, "shop") == before

        # The finalizer goes with the operator: scenarios are deleted before the release.
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "helm")
        wait_until(lambda: not scenarios(custom, namespace), 60, "the scenario to go")
        helm(cluster, "uninstall", release, "--namespace", release_ns, "--wait")
        installed = False

        # helm's --wait covers the release's own objects; their pods go a little later.
        left: list[str] = []

        def nothing_left() -> bool:
            left[:] = release_objects(cluster, release)
            return not left

        wait_until(nothing_left, 120, f"the objects of release {release} to go: {left}")
        assert helm(cluster, "list", "--all", "--namespace", release_ns, "-q").split() == []
        after = crd_meta(cluster)
        assert after is not None and after["uid"] == crd["uid"], "the CRD outlives the release"
        assert deployed_rbac(cluster) == deployed, "the deployed operator's RBAC is untouched"
        print(f"\nhelm release {release}: installed, game day {done['phase']}, uninstalled")
    finally:
        if installed:
            # The operator first, so that it cannot put back the finalizer removed next.
            subprocess.run(
                [
                    str(HELM),
                    "--kubeconfig",
                    str(cluster.kubeconfig),
                    "uninstall",
                    release,
                    "--namespace",
                    release_ns,
                    "--wait",
                ],
                capture_output=True,
                timeout=300,
                check=False,
            )
            for item in scenarios(custom, namespace):
                custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, item, {"metadata": {"finalizers": None}}
                )
        try:
            cluster.core.delete_namespace(release_ns, propagation_policy="Background")
        except ApiException as e:
            if e.status != 404:
                raise


def scenarios(custom: client.CustomObjectsApi, namespace: str) -> list[str]:
    listed = json_of(custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
    return [item["metadata"]["name"] for item in listed["items"]]


def get(cluster: Cluster, *args: str) -> Json:
    got: Json = json.loads(cluster.kubectl("get", *args, "-o", "json"))
    return got


def lease_holder(cluster: Cluster, namespace: str) -> str:
    found = cluster.kubectl(
        "get", "-n", namespace, "lease", "gameday-operator", "--ignore-not-found", "-o", "json"
    )
    holder: str = json.loads(found)["spec"].get("holderIdentity") or "" if found else ""
    return holder


def crd_meta(cluster: Cluster) -> Json | None:
    found = cluster.kubectl("get", "crd", CRD, "--ignore-not-found", "-o", "json")
    if not found:
        return None
    meta: Json = json.loads(found)["metadata"]
    return meta


def resources(cluster: Cluster, namespace: str, deployment: str) -> Json:
    spec = get(cluster, "-n", namespace, "deployment", deployment)["spec"]["template"]["spec"]
    out: Json = spec["containers"][0]["resources"]
    return out


def deployed_rbac(cluster: Cluster) -> dict[str, str]:
    """The ClusterRoles and ClusterRoleBindings `make deploy` made: name → resourceVersion."""
    listed = get(
        cluster, "clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/name=gameday"
    )
    return {
        f"{item['kind']}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
        for item in listed["items"]
        if "app.kubernetes.io/instance" not in item["metadata"].get("labels", {})
    }
