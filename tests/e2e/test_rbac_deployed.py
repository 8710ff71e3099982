"""The operator's rights, as the API server grants them to its ServiceAccount.

`kubectl auth can-i --as` asks the API server's own authorizer, so this checks the installed
RBAC, not a reading of the manifests: everything the operator needs in an opted-in namespace,
none of its rights on workloads where nobody opted in (kube-system, default, a namespace that is
only labelled), and no Secret anywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from gameday_demo.deploy import deploy
from gameday_demo.kubectl import Kubectl
from tests.fixtures.cluster import REPO, Cluster

pytestmark = pytest.mark.cluster

OPERATOR = "system:serviceaccount:gameday-system:gameday-operator"
OPTED_IN = "shop-monolith"  # the shop's manifests opt it in
# (verb, resource) of every workload right of ClusterRole gameday-operator-target.
WORKLOAD_RIGHTS = [
    ("patch", "deployments.apps"),
    ("list", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("list", "replicasets.apps"),
    ("get", "pods"),
    ("watch", "pods"),
    ("patch", "pods/ephemeralcontainers"),
    ("patch", "pods/resize"),
    ("create", "pods/exec"),
    ("get", "pods/log"),
    ("create", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("create", "horizontalpodautoscalers.autoscaling"),
    ("get", "services"),
    ("list", "endpointslices.discovery.k8s.io"),
    ("create", "leases.coordination.k8s.io"),
    ("create", "configmaps"),
]

# What no fault needs in an opted-in namespace: nothing there is watched but its Deployments
# and pods, no workload is created, replaced or deleted but the operator's own Jobs, HPAs,
# Leases and load summaries (ConfigMaps), and no Secret is read (the database injector's Job
# reads its Secret as an environment variable).
NOT_GRANTED = [
    ("update", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("create", "pods"),
    ("delete", "pods"),
    ("update", "pods"),
    ("patch", "pods"),
    ("patch", "services"),
    ("delete", "services"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("patch", "jobs.batch"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
]


def can(cluster: Cluster, verb: str, resource: str, namespace: str | None) -> bool:
    where = ["-n", namespace] if namespace else ["--all-namespaces"]
    kind, _, sub = resource.partition("/")
    subresource = ["--subresource", sub] if sub else []
    out = cluster.kubectl(
        "auth", "can-i", verb, kind, *subresource, *where, "--as", OPERATOR, check=False
    )
    return out.strip() == "yes"


@pytest.fixture(scope="module")
def installed(deployed: Cluster) -> Cluster:
    # The operator's RBAC as the demo installs it (idempotent).
    deploy(Kubectl.from_env(deployed.kubeconfig), say=lambda _: None)
    return deployed


@pytest.fixture
def labelled_only(installed: Cluster) -> Iterator[str]:
    """A namespace with the opt-in label but no RoleBinding."""
    name = f"t-rbac-{uuid.uuid4().hex[:5]}"
    installed.kubectl("create", "namespace", name)
    installed.kubectl("label", "namespace", name, "gameday.io/enabled=true")
    try:
        yield name
    finally:
        installed.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize(("verb", "resource"), WORKLOAD_RIGHTS)
def test_an_opted_in_namespace_grants_what_the_faults_need(
    installed: Cluster, verb: str, resource: str
) -> None:
    assert can(installed, verb, resource, OPTED_IN), f"{verb} {resource} in {OPTED_IN}"


def test_the_leader_election_lease_is_the_operators_own_namespace_only(installed: Cluster) -> None:
    for verb in ("get", "create", "update"):
        assert can(installed, verb, "leases.coordination.k8s.io", "gameday-system"), verb
    assert not can(installed, "delete", "leases.coordination.k8s.io", "gameday-system")
    assert not can(installed, "update", "leases.coordination.k8s.io", "kube-system")
    assert not can(installed, "update", "leases.coordination.k8s.io", None)


def test_an_opted_in_namespace_grants_nothing_else(installed: Cluster) -> None:
    granted = [f"{v} {r}" for v, r in NOT_GRANTED if can(installed, v, r, OPTED_IN)]
    assert granted == [], f"in {OPTED_IN}: {granted}"


@pytest.mark.parametrize("namespace", ["kube-system", "default", "gameday-system"])
def test_no_workload_right_where_nobody_opted_in(installed: Cluster, namespace: str) -> None:
    # In its own namespace the operator holds its leader election's Lease, and only that.
    own_lease = ("create", "leases.coordination.k8s.io") if namespace == "gameday-system" else None
    granted = [
        f"{v} {r}"
        for v, r in WORKLOAD_RIGHTS
        if (v, r) != own_lease and can(installed, v, r, namespace)
    ]
    assert granted == [], f"in {namespace}: {granted}"


def test_the_label_alone_grants_nothing_and_opting_in_grants_it_all(
    installed: Cluster, labelled_only: str
) -> None:
    assert [r for v, r in WORKLOAD_RIGHTS if can(installed, v, r, labelled_only)] == []
    rolebinding = REPO / "manifests" / "opt-in" / "rolebinding.yaml"
    installed.kubectl("-n", labelled_only, "apply", "-f", str(rolebinding))
    missing = [f"{v} {r}" for v, r in WORKLOAD_RIGHTS if not can(installed, v, r, labelled_only)]
    assert missing == []


def test_cluster_wide_it_only_serves_its_scenarios(installed: Cluster) -> None:
    assert can(installed, "watch", "failurescenarios.gameday.io", None)
    assert can(installed, "patch", "failurescenarios.gameday.io/status", None)
    assert can(installed, "get", "namespaces", None)
    for verb, resource in [*WORKLOAD_RIGHTS, ("get", "secrets"), ("list", "secrets")]:
        assert not can(installed, verb, resource, None), f"{verb} {resource} everywhere"
    for namespace in (OPTED_IN, "kube-system", "gameday-system"):
        assert not can(installed, "get", "secrets", namespace), f"secrets in {namespace}"
