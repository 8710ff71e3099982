"""The local node is a real Kubernetes: pods from locally built images, Services through
kube-proxy and CoreDNS, rollouts, the HPA on minReplicas and on real CPU load, in-place resize,
ephemeral containers and CEL validation."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import Cluster, wait_until
from tests.fixtures.k8s import labels_of, meta_of, name_of, spec_of, status_of
from tests.fixtures.workloads import ECHO_IMAGE, echo_deployment, hpa

pytestmark = pytest.mark.cluster


def echo(
    name: str,
    replicas: int = 1,
    strategy: dict[str, Any] | None = None,
    cpu_limit: str = "200m",
) -> dict[str, Any]:
    # Unready at the first failed probe: one test turns a pod unready on purpose.
    return echo_deployment(
        name, replicas, cpu=("100m", cpu_limit), strategy=strategy, unready_after_failures=1
    )


def create(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> None:
    utils.create_from_dict(cluster.api, manifest, namespace=ns)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated


def ready_pods(cluster: Cluster, ns: str, app: str) -> list[client.V1Pod]:
    pods = cluster.core.list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [
        p
        for p in pods
        if meta_of(p).deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in status_of(p).conditions or [])
    ]


def wait_rollout(cluster: Cluster, ns: str, name: str, timeout: float = 180) -> None:
    def done() -> bool:
        d = cluster.apps.read_namespaced_deployment(name, ns)
        s = status_of(d)
        return bool(
            s.observed_generation == meta_of(d).generation
            and (s.updated_replicas or 0) == d.spec.replicas
            and (s.available_replicas or 0) == d.spec.replicas
            and (s.replicas or 0) == d.spec.replicas
        )

    wait_until(done, timeout, f"rollout of {ns}/{name}")


def http_from_pod(cluster: Cluster, ns: str, pod: str, url: str) -> str:
    code = (
        f"import urllib.request;print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    )
    return cluster.kubectl("exec", "-n", ns, pod, "--", "python3", "-c", code).strip()


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_service_reaches_only_ready_pods_through_kube_proxy_and_coredns(
    kube_cluster: Cluster, namespace: str
) -> None:
    create(kube_cluster, namespace, echo("echo", replicas=2))
    create(kube_cluster, namespace, service("echo"))
    create(kube_cluster, namespace, echo("client"))
    wait_rollout(kube_cluster, namespace, "echo")
    wait_rollout(kube_cluster, namespace, "client")
    client_pod = name_of(ready_pods(kube_cluster, namespace, "client")[0])
    echo_pods = {name_of(p) for p in ready_pods(kube_cluster, namespace, "echo")}
    svc = kube_cluster.core.read_namespaced_service("echo", namespace)

    # A new Service answers once kube-proxy has synced its rules (about a second): wait for it.
    by_ip = wait_until(
        lambda: http_from_pod(
            kube_cluster, namespace, client_pod, f"http://{spec_of(svc).cluster_ip}/"
        ),
        30,
        "the Service's cluster IP to answer",
    )
    by_dns = http_from_pod(
        kube_cluster, namespace, client_pod, f"http://echo.{namespace}.svc.cluster.local/"
    )
    assert by_ip in echo_pods
    assert by_dns in echo_pods

    unready, ready = sorted(echo_pods)
    kube_cluster.kubectl("exec", "-n", namespace, unready, "--", "touch", "/tmp/unready")
    wait_until(
        lambda: {name_of(p) for p in ready_pods(kube_cluster, namespace, "echo")} == {ready},
        60,
        "the pod to turn unready",
    )

    def endpoints_only_ready() -> bool:
        slices = client.DiscoveryV1Api(kube_cluster.api).list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=echo"
        )
        serving = {
            pod_of(e).name
            for s in slices.items
            for e in s.endpoints or []
            if e.conditions and e.conditions.ready
        }
        return serving == {ready}

    wait_until(endpoints_only_ready, 60, "the EndpointSlice to drop the unready pod")
    # kube-proxy applies the change asynchronously (minSyncPeriod 1s).
    time.sleep(2)
    code = (
        "import urllib.request, collections\n"
        "c = collections.Counter(urllib.request.urlopen('http://echo/', timeout=5).read().decode()"
        " for _ in range(40))\n"
        "print(dict(c))"
    )
    answers = kube_cluster.kubectl(
        "exec", "-n", namespace, client_pod, "--", "python3", "-c", code
    ).strip()
    assert answers == str({ready: 40})


def pod_of(endpoint: client.V1Endpoint) -> client.V1ObjectReference:
    """The pod behind an endpoint (every endpoint of a Service with a selector names one)."""
    assert endpoint.target_ref is not None
    return endpoint.target_ref


def pod_observations(cluster: Cluster, ns: str, app: str) -> list[tuple[str, str, bool, bool]]:
    """(name, pod-template-hash, ready, terminating) for every pod of the app."""
    out = []
    for p in cluster.core.list_namespaced_pod(ns, label_selector=f"app={app}").items:
        ready = any(c.type == "Ready" and c.status == "True" for c in status_of(p).conditions or [])
        out.append(
            (
                name_of(p),
                labels_of(p).get("pod-template-hash", ""),
                ready,
                meta_of(p).deletion_timestamp is not None,
            )
        )
    return out


def restart(cluster: Cluster, ns: str, name: str) -> str:
    stamp = str(uuid.uuid4())
    cluster.apps.patch_namespaced_deployment(
        name,
        ns,
        {"spec": {"template": {"metadata": {"annotations": {"test/restartedAt": stamp}}}}},
    )
    return stamp


def test_rolling_update_with_max_unavailable_zero_keeps_every_replica_ready(
    kube_cluster: Cluster, namespace: str
) -> None:
    create(kube_cluster, namespace, echo("web", replicas=3))
    wait_rollout(kube_cluster, namespace, "web")
    before = {o[0] for o in pod_observations(kube_cluster, namespace, "web")}
    restart(kube_cluster, namespace, "web")
    min_ready = 3
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        obs = pod_observations(kube_cluster, namespace, "web")
        min_ready = min(min_ready, sum(1 for _, _, ready, term in obs if ready and not term))
        names = {o[0] for o in obs if not o[3]}
        d = kube_cluster.apps.read_namespaced_deployment("web", namespace)
        s = status_of(d)
        if (
            s.observed_generation == meta_of(d).generation
            and s.updated_replicas == 3
            and s.available_replicas == 3
            and s.replicas == 3
            and not names & before
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail("rolling update did not finish in 180s")
    assert min_ready >= 3
    assert not names & before, "every old pod must have been replaced"


def running_containers(pod: client.V1Pod) -> bool:
    return any(c.state and c.state.running for c in status_of(pod).container_statuses or [])


def app_status(pod: client.V1Pod) -> client.V1ContainerStatus:
    """The status of the pod's first container, which the kubelet reports once it has started."""
    statuses = status_of(pod).container_statuses
    assert statuses
    return statuses[0]


def test_recreate_stops_every_old_pod_before_a_new_one_starts(
    kube_cluster: Cluster, namespace: str
) -> None:
    create(kube_cluster, namespace, echo("batch", replicas=2, strategy={"type": "Recreate"}))
    wait_rollout(kube_cluster, namespace, "batch")
    old_hash = pod_observations(kube_cluster, namespace, "batch")[0][1]
    restart(kube_cluster, namespace, "batch")
    # Recreate's guarantee: no new pod exists while an old one still runs. A stopped old pod
    # may linger as an object until the kubelet finalises it; that is not a violation.
    overlap = []
    saw_old_stop = saw_new_ready = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pods = kube_cluster.core.list_namespaced_pod(namespace, label_selector="app=batch").items
        old = [p for p in pods if labels_of(p).get("pod-template-hash") == old_hash]
        new = [p for p in pods if labels_of(p).get("pod-template-hash") != old_hash]
        old_running = [name_of(p) for p in old if running_containers(p)]
        if new and old_running:
            overlap.append((old_running, [name_of(p) for p in new]))
        saw_old_stop = saw_old_stop or not old_running
        ready_new = [p for p in new if p in ready_pods(kube_cluster, namespace, "batch")]
        if len(ready_new) == 2 and not old:
            saw_new_ready = True
            break
        time.sleep(0.2)
    assert saw_new_ready, "the Recreate rollout did not finish"
    assert saw_old_stop
    assert overlap == [], f"new pods existed while old ones ran: {overlap[:3]}"


def replicas(cluster: Cluster, ns: str, name: str) -> int:
    wanted = spec_of(cluster.apps.read_namespaced_deployment(name, ns)).replicas
    assert wanted is not None
    return int(wanted)


def test_hpa_scales_out_when_min_replicas_is_raised(kube_cluster: Cluster, namespace: str) -> None:
    create(kube_cluster, namespace, echo("order"))
    create(kube_cluster, namespace, hpa("order", 1, 5, cpu_utilization=50))
    wait_rollout(kube_cluster, namespace, "order")
    client.AutoscalingV2Api(kube_cluster.api).patch_namespaced_horizontal_pod_autoscaler(
        "order", namespace, {"spec": {"minReplicas": 3}}
    )
    wait_until(lambda: replicas(kube_cluster, namespace, "order") == 3, 120, "HPA scale-out to 3")
    wait_rollout(kube_cluster, namespace, "order")


def test_hpa_scales_out_on_real_cpu_load(kube_cluster: Cluster, namespace: str) -> None:
    create(kube_cluster, namespace, echo("burner", cpu_limit="300m"))
    create(kube_cluster, namespace, hpa("burner", 1, 3, cpu_utilization=50))
    wait_rollout(kube_cluster, namespace, "burner")
    pod = name_of(ready_pods(kube_cluster, namespace, "burner")[0])
    # Two requests burn 2 x 150 s of CPU, capped by the 300m limit: 300% of the 100m request.
    for _ in range(2):
        kube_cluster.kubectl(
            "exec",
            "-n",
            namespace,
            pod,
            "--",
            "sh",
            "-c",
            'python3 -c "import urllib.request; urllib.request.urlopen('
            "'http://127.0.0.1:8080/burn?seconds=150', timeout=200)\" >/dev/null 2>&1 &",
        )
    wait_until(
        lambda: replicas(kube_cluster, namespace, "burner") > 1,
        150,
        "HPA scale-out on CPU utilisation reported by metrics-server",
        interval=2,
    )
    status = status_of(
        client.AutoscalingV2Api(kube_cluster.api).read_namespaced_horizontal_pod_autoscaler(
            "burner", namespace
        )
    )
    metrics = status.current_metrics
    assert metrics and metrics[0].resource is not None
    utilisation = metrics[0].resource.current.average_utilization
    assert utilisation is not None and utilisation > 50


def container_cgroup_quota(pod: client.V1Pod) -> int:
    runtime_id = app_status(pod).container_id
    assert runtime_id is not None
    container_id = runtime_id.split("//", 1)[1]
    found = list(Path("/sys/fs/cgroup/cpu/kubepods").rglob(f"{container_id}/cpu.cfs_quota_us"))
    assert found, f"no cgroup for container {container_id}"
    return int(found[0].read_text())


def test_in_place_resize_changes_the_cpu_quota_without_a_restart(
    kube_cluster: Cluster, namespace: str
) -> None:
    create(kube_cluster, namespace, echo("resize", cpu_limit="200m"))
    wait_rollout(kube_cluster, namespace, "resize")
    pod = ready_pods(kube_cluster, namespace, "resize")[0]
    name, before_id = name_of(pod), app_status(pod).container_id
    assert container_cgroup_quota(pod) == 20000  # 200m of a 100 ms period

    kube_cluster.core.patch_namespaced_pod_resize(
        name,
        namespace,
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "resources": {"limits": {"cpu": "400m"}, "requests": {"cpu": "200m"}},
                    }
                ]
            }
        },
    )

    def resized() -> client.V1Pod | None:
        p = kube_cluster.core.read_namespaced_pod(name, namespace)
        res = app_status(p).resources
        return p if res and res.limits and res.limits.get("cpu") == "400m" else None

    after = wait_until(resized, 90, "the kubelet to apply the resize")
    assert container_cgroup_quota(after) == 40000
    status = after.status.container_statuses[0]
    assert status.restart_count == 0
    assert status.container_id == before_id


def test_ephemeral_container_shares_the_pod_network_namespace(
    kube_cluster: Cluster, namespace: str
) -> None:
    create(kube_cluster, namespace, echo("target"))
    wait_rollout(kube_cluster, namespace, "target")
    pod = name_of(ready_pods(kube_cluster, namespace, "target")[0])
    probe = (
        "import urllib.request;"
        "print('via-localhost:' + urllib.request.urlopen('http://127.0.0.1:8080/', timeout=5)"
        ".read().decode())"
    )
    kube_cluster.core.patch_namespaced_pod_ephemeralcontainers(
        pod,
        namespace,
        {
            "spec": {
                "ephemeralContainers": [
                    {
                        "name": "probe",
                        "image": ECHO_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-c", probe],
                        "targetContainerName": "app",
                    }
                ]
            }
        },
    )

    def probe_logs() -> str:
        return kube_cluster.core.read_namespaced_pod_log(pod, namespace, container="probe")

    logs = wait_until(lambda: "via-localhost:" in probe_logs() and probe_logs(), 90, "probe output")
    # The app answered the ephemeral container on 127.0.0.1: one network namespace.
    assert logs.strip() == f"via-localhost:{pod}"


CRD_GROUP = "cel.test.gameday.io"


def test_crd_with_a_cel_rule_rejects_a_bad_object_with_its_message(kube_cluster: Cluster) -> None:
    ext = client.ApiextensionsV1Api(kube_cluster.api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"ranges.{CRD_GROUP}"},
        "spec": {
            "group": CRD_GROUP,
            "names": {"kind": "Range", "plural": "ranges", "singular": "range"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["min", "max"],
                                    "properties": {
                                        "min": {"type": "integer"},
                                        "max": {"type": "integer", "maximum": 100},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.min <= self.max",
                                            "message": "min must not exceed max",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    try:
        ext.create_custom_resource_definition(crd)  # type: ignore[arg-type]  # the client takes a plain dict; its annotation names the model
    except ApiException as e:
        if e.status != 409:
            raise

    def established() -> bool:
        got = ext.read_custom_resource_definition(f"ranges.{CRD_GROUP}")
        return any(
            c.type == "Established" and c.status == "True" for c in status_of(got).conditions or []
        )

    wait_until(established, 30, "the CRD to be established")
    objects = client.CustomObjectsApi(kube_cluster.api)

    def create_range(name: str, lo: int, hi: int) -> None:
        objects.create_namespaced_custom_object(
            CRD_GROUP,
            "v1",
            "default",
            "ranges",
            {
                "apiVersion": f"{CRD_GROUP}/v1",
                "kind": "Range",
                "metadata": {"name": name},
                "spec": {"min": lo, "max": hi},
            },
        )

    name = f"ok-{uuid.uuid4().hex[:6]}"
    create_range(name, 1, 5)
    objects.delete_namespaced_custom_object(CRD_GROUP, "v1", "default", "ranges", name)

    with pytest.raises(ApiException) as rejected:
        create_range(f"bad-{uuid.uuid4().hex[:6]}", 9, 5)
    assert rejected.value.status == 422
    assert rejected.value.body is not None
    assert "min must not exceed max" in json.loads(rejected.value.body)["message"]

    with pytest.raises(ApiException) as schema_rejected:
        create_range(f"big-{uuid.uuid4().hex[:6]}", 1, 500)
    assert schema_rejected.value.status == 422
    assert schema_rejected.value.body is not None
    assert (
        "should be less than or equal to 100" in json.loads(schema_rejected.value.body)["message"]
    )
