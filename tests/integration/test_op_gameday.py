"""Game days on the real cluster with the operator running for real.

kopf runs the operator in-process (KopfRunner) or, for the crash test, as a process that is
killed with SIGKILL and started again. Each test creates echo Deployments in a fresh opted-in
namespace, runs a time-based scenario (remediation.after, short durations) and asserts on the
scenario's status, its Events and the objects it touched: what changed while it ran and that
everything is back as it was once it ends, however it ends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kopf.testing import KopfRunner
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from gameday_operator.units import human_duration, parse_quantity
from tests.fixtures.admission_hold import holding_webhook
from tests.fixtures.cluster import Cluster, wait_until
from tests.fixtures.injector import json_log_lines
from tests.fixtures.k8s import json_of, meta_of, name_of
from tests.fixtures.operator import kopf_args, start_operator
from tests.fixtures.workloads import echo_deployment, hpa

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "failurescenario.yaml"
GROUP, VERSION, PLURAL = "gameday.io", "v1alpha1", "failurescenarios"
RESTARTED_AT = "gameday.io/restartedAt"
TERMINAL = ("Recovered", "Failed", "Aborted")

# The operator reads its configuration once, when kopf imports it: a fast tick for tests.
OPERATOR_ENV = {"GAMEDAY_TICK_INTERVAL": "1s", "GAMEDAY_SAMPLE_INTERVAL": "1s"}
for _key, _value in OPERATOR_ENV.items():
    os.environ.setdefault(_key, _value)

Json = dict[str, Any]


# ------------------------------------------------------------------------------- manifests


def echo(
    name: str,
    replicas: int = 1,
    *,
    cpu: tuple[str, str] = ("50m", "200m"),
    memory: tuple[str, str] = ("32Mi", "64Mi"),
) -> Json:
    # The template annotation shows that a revert restores annotations it did not add.
    return echo_deployment(name, replicas, cpu=cpu, memory=memory, annotations={"team": "orders"})


def cpu_stress(load: int = 10, selector: str = "All") -> Json:
    return {"type": "CPUStress", "selector": {"mode": selector}, "cpuStress": {"load": load}}


def scenario(
    name: str,
    architecture: str,
    deployment: str,
    *,
    faults: list[Json] | None = None,
    duration: str = "90s",
    after: str = "2s",
    window: str = "6s",
    mode: str = "Auto",
    plan: Json | None = None,
) -> Json:
    remediation: Json = {"mode": mode, "after": after}
    if plan:
        remediation[architecture] = plan
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": name},
        "spec": {
            "target": {"architecture": architecture, "deployment": deployment, "container": "app"},
            "faults": faults or [cpu_stress()],
            "duration": duration,
            "steadyState": {"window": window},
            "remediation": remediation,
        },
    }


# ---------------------------------------------------------------------------- cluster side


@dataclass
class Ops:
    """The test's view of one namespace: raw dicts, 404 → None."""

    cluster: Cluster
    ns: str

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.cluster.api)

    def raw(self, obj: Any) -> Json:
        out: Json = self.cluster.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]  # kubernetes' ApiClient is unannotated
        return out

    def create(self, manifest: Json) -> None:
        if manifest["kind"] == "FailureScenario":
            self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, manifest)
        else:
            utils.create_from_dict(self.cluster.api, manifest, namespace=self.ns)  # type: ignore[no-untyped-call]  # kubernetes.utils is unannotated

    def scenario(self, name: str) -> Json | None:
        try:
            out = json_of(
                self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return out

    def status(self, name: str) -> Json:
        got = self.scenario(name)
        return (got or {}).get("status") or {}

    def wait_status(
        self, name: str, check: Callable[[Json], Any], timeout: float, what: str
    ) -> Json:
        """The scenario's status once `check` holds; fails early if it ended meanwhile."""

        def probe() -> Json | None:
            st = self.status(name)
            if check(st):
                return st
            if (st.get("timeline") or {}).get("completedAt"):
                raise AssertionError(
                    f"{name} ended before {what}: {st.get('phase')} {st.get('reason')}: "
                    f"{st.get('message')}"
                )
            return None

        st: Json = wait_for(probe, timeout, f"{name}: {what}")
        return st

    def wait_phase(self, name: str, phase: str, timeout: float) -> Json:
        return self.wait_status(name, lambda s: s.get("phase") == phase, timeout, f"phase {phase}")

    def wait_completed(self, name: str, timeout: float) -> Json:
        def done() -> Json | None:
            st = self.status(name)
            return st if (st.get("timeline") or {}).get("completedAt") else None

        st: Json = wait_until(done, timeout, f"{name} to complete")
        return st

    def deployment(self, name: str) -> Json:
        return self.raw(self.cluster.apps.read_namespaced_deployment(name, self.ns))

    def hpa(self, name: str) -> Json | None:
        try:
            return self.raw(
                client.AutoscalingV2Api(self.cluster.api).read_namespaced_horizontal_pod_autoscaler(
                    name, self.ns
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def pods(self, app: str) -> list[Json]:
        """Pods of `app` that are not terminating."""
        items = self.cluster.core.list_namespaced_pod(self.ns, label_selector=f"app={app}").items
        return [self.raw(p) for p in items if meta_of(p).deletion_timestamp is None]

    def ready_pods(self, app: str) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.pods(app) if is_ready(p))

    def replica_sets(self, app: str) -> set[str]:
        items = self.cluster.apps.list_namespaced_replica_set(
            self.ns, label_selector=f"app={app}"
        ).items
        return {name_of(rs) for rs in items}

    def wait_rolled_out(self, name: str, timeout: float = 120) -> Json:
        rolled: Json = wait_until(
            lambda: d if rolled_out(d := self.deployment(name)) else None,
            timeout,
            f"rollout of {self.ns}/{name}",
        )
        return rolled

    def events(self, name: str) -> list[client.CoreV1Event]:
        return [
            e
            for e in self.cluster.core.list_namespaced_event(self.ns).items
            if e.involved_object.name == name and e.involved_object.kind == "FailureScenario"
        ]

    def wait_event(self, name: str, reason: str, timeout: float = 30) -> client.CoreV1Event:
        event: client.CoreV1Event = wait_until(
            lambda: next((e for e in self.events(name) if e.reason == reason), None),
            timeout,
            f"Event {reason} on {name}",
        )
        return event

    def ephemeral_state(self, pod: str, container: str) -> Json:
        """`running`, `terminated` or `waiting` of one ephemeral container ({} if none yet)."""
        got = self.raw(self.cluster.core.read_namespaced_pod(pod, self.ns))
        for s in (got.get("status") or {}).get("ephemeralContainerStatuses") or []:
            if s["name"] == container:
                return dict(s.get("state") or {})
        return {}

    def log_events(self, pod: str, container: str) -> list[Json]:
        return json_log_lines(
            self.cluster.core.read_namespaced_pod_log(pod, self.ns, container=container)
        )

    def delete_scenarios(self, timeout: float = 120) -> None:
        """Deletes every scenario and waits until the operator has let them go."""
        listed = json_of(self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL))
        for item in listed["items"]:
            try:
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.ns, PLURAL, item["metadata"]["name"]
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
        wait_until(
            lambda: (
                not json_of(
                    self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
                )["items"]
            ),
            timeout,
            f"the scenarios in {self.ns} to go",
        )

    @contextmanager
    def cleanup(self) -> Iterator[None]:
        """On the way out (operator still running): delete the scenarios, whatever happened."""
        try:
            yield
        finally:
            try:
                self.delete_scenarios()
            except Exception:
                # Never leave a namespace stuck on a finalizer nobody will remove.
                for item in json_of(
                    self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
                )["items"]:
                    self.custom.patch_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        self.ns,
                        PLURAL,
                        item["metadata"]["name"],
                        {"metadata": {"finalizers": None}},
                    )
                raise


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Like wait_until, but an AssertionError from `check` fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except AssertionError:
            raise
        except ApiException:
            got = None
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def is_ready(pod: Json) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def rolled_out(d: Json) -> bool:
    """What `kubectl rollout status` waits for."""
    s = d.get("status") or {}
    want = d["spec"].get("replicas", 1)
    return bool(
        s.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and s.get("updatedReplicas", 0) == want
        and s.get("replicas", 0) == want
        and s.get("availableReplicas", 0) == want
    )


def shape(d: Json) -> Json:
    """What a scenario may change in a Deployment and must give back."""
    template = d["spec"]["template"]
    return {
        "replicas": d["spec"].get("replicas"),
        "strategy": d["spec"].get("strategy"),
        "annotations": (template.get("metadata") or {}).get("annotations") or {},
        "resources": {c["name"]: c.get("resources") for c in template["spec"]["containers"]},
    }


def app_resources(d: Json) -> Json:
    c = next(c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    return dict(c["resources"])


def q(value: str) -> Any:
    return parse_quantity(value)


def check_actions(status: Json) -> list[Json]:
    """Every action recorded once and reverted."""
    actions = status.get("actions") or []
    ids = [a["id"] for a in actions]
    assert len(ids) == len(set(ids)), f"duplicated action ids: {ids}"
    pairs = [(a["kind"], a["target"]) for a in actions]
    assert len(pairs) == len(set(pairs)), f"the same change recorded twice: {pairs}"
    not_reverted = [(a["id"], a["state"], a.get("error")) for a in actions]
    assert all(a["state"] == "Reverted" for a in actions), not_reverted
    return list(actions)


def condition(status: Json, type_: str) -> Json | None:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)


def stress_containers(status: Json) -> list[tuple[str, str]]:
    return [
        (a["detail"]["pod"], a["detail"]["container"])
        for a in status.get("actions") or []
        if a["kind"] == "CPUStressContainer"
    ]


class ReadySample(NamedTuple):
    at: float
    ready: int
    replicas: int
    # Why each non-terminating pod that is not Ready is not: what a drop is explained by.
    unready: tuple[str, ...]


def unready_reason(pod: Json) -> str:
    status = pod.get("status") or {}
    ready: Json = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (
        f"{pod['metadata']['name']}: {status.get('phase')}, Ready={ready.get('status')}"
        f" ({ready.get('reason')}) since {ready.get('lastTransitionTime')}, restarts {restarts}"
    )


@dataclass
class ReadyWatch:
    """Samples a Deployment's ready non-terminating pods and spec.replicas in the background."""

    ops: Ops
    app: str
    interval: float = 0.2
    samples: list[ReadySample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ReadyWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                replicas = self.ops.deployment(self.app)["spec"].get("replicas", 1)
                pods = self.ops.pods(self.app)
                unready = tuple(unready_reason(p) for p in pods if not is_ready(p))
                self.samples.append(
                    ReadySample(time.monotonic(), len(pods) - len(unready), replicas, unready)
                )
            except Exception:  # a transient API error: the next sample counts
                pass
            self._stop.wait(self.interval)

    def drops(self) -> list[ReadySample]:
        """Samples where Ready pods fell below what was already reached, both counted only up
        to spec.replicas: a surge pod above the replica count of its time raises nothing (with
        one replica, a rolling update has two Ready pods for a moment, and the HPA's scale-out
        to three then starts from one)."""
        out = []
        best = 0
        for sample in self.samples:
            if sample.ready < min(best, sample.replicas):
                out.append(sample)
            best = max(best, min(sample.ready, sample.replicas))
        return out

    def zero_seconds(self) -> float:
        """How long no pod was Ready, from the samples."""
        total = 0.0
        for s0, s1 in zip(self.samples, self.samples[1:], strict=False):
            if s0.ready == 0:
                total += s1.at - s0.at
        return total


# ------------------------------------------------------------------------------- operator


@pytest.fixture(scope="module")
def crd(kube_cluster: Cluster, sole_operator: None) -> None:
    os.environ["KUBECONFIG"] = str(kube_cluster.kubeconfig)  # for the kopf run in-process
    kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube_cluster.kubectl(
        "wait", "--for", "condition=established", "--timeout=60s", "crd/failurescenarios.gameday.io"
    )


@pytest.fixture
def ops(kube_cluster: Cluster, crd: None, namespace: str) -> Ops:
    return Ops(kube_cluster, namespace)


@contextmanager
def operator(ops: Ops) -> Iterator[KopfRunner]:
    """kopf running the operator in-process for one namespace; scenarios deleted before it stops."""
    runner = KopfRunner(kopf_args(ops.ns), timeout=60)
    with runner, ops.cleanup():
        yield runner
    assert runner.exception is None, runner.output[-4000:]
    assert runner.exit_code == 0, runner.output[-4000:]


def operator_process(ops: Ops, log: Path) -> subprocess.Popen[bytes]:
    return start_operator(ops.ns, ops.cluster.kubeconfig, log, OPERATOR_ENV)


def stop_operators(ops: Ops, name: str, *procs: subprocess.Popen[bytes] | None) -> None:
    """Stops the operator processes still running; a scenario none of them could finish
    loses its finalizer, so the namespace can go."""
    for p in procs:
        if p is not None and p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    if ops.scenario(name) is not None:
        ops.custom.patch_namespaced_custom_object(
            GROUP, VERSION, ops.ns, PLURAL, name, {"metadata": {"finalizers": None}}
        )


def start_echo(ops: Ops, *manifests: Json) -> None:
    for m in manifests:
        ops.create(m)
    for m in manifests:
        if m["kind"] == "Deployment":
            ops.wait_rolled_out(m["metadata"]["name"])


def wait_stress_running(ops: Ops, status: Json, timeout: float = 60) -> list[tuple[str, str]]:
    containers = stress_containers(status)
    assert containers, f"no stress recorded: {status.get('actions')}"
    for pod, container in containers:

        def running(p: str = pod, c: str = container) -> bool:
            return "running" in ops.ephemeral_state(p, c)

        wait_until(
            running,
            timeout,
            f"stress container {container} running in {pod}",
        )
    return containers


# ---------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("rollout", ["Full", "Recreate"])
def test_monolith_vertical_resize_and_full_rollout(ops: Ops, rollout: str) -> None:
    start_echo(ops, echo("shop", replicas=2, cpu=("100m", "300m"), memory=("32Mi", "64Mi")))
    before = shape(ops.deployment("shop"))
    old_pods = set(ops.ready_pods("shop"))
    old_rs = ops.replica_sets("shop")
    plan = {
        "cpuFactor": 2,
        "memoryFactor": 4,
        "maxCpu": "500m",
        "maxMemory": "192Mi",
        "rollout": rollout,
    }
    watch = ReadyWatch(ops, "shop")
    with operator(ops), watch:
        ops.create(scenario("mono", "monolith", "shop", window="8s", plan=plan))
        injected = ops.wait_status("mono", lambda s: stress_containers(s), 60, "stress recorded")
        assert {pod for pod, _ in wait_stress_running(ops, injected)} == old_pods

        st = ops.wait_phase("mono", "Verifying", 120)
        d = ops.deployment("shop")
        res = app_resources(d)
        # Raised by the factors, within the caps.
        assert q(res["requests"]["cpu"]) == q("200m")
        assert q(res["limits"]["cpu"]) == q("500m")  # 600m capped
        assert q(res["requests"]["memory"]) == q("128Mi")
        assert q(res["limits"]["memory"]) == q("192Mi")  # 256Mi capped
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations.get(RESTARTED_AT) and annotations.get("team") == "orders"
        if rollout == "Recreate":
            assert d["spec"]["strategy"]["type"] == "Recreate"
        # The rollout was awaited the way `kubectl rollout status` does.
        assert rolled_out(d), d["status"]
        ops.cluster.kubectl("rollout", "status", "-n", ops.ns, "deployment/shop", "--timeout=2s")
        new_pods = set(ops.ready_pods("shop"))
        assert len(new_pods) == 2 and not new_pods & old_pods
        assert ops.replica_sets("shop") - old_rs, "no new ReplicaSet"
        for pod in ops.pods("shop"):
            owner = pod["metadata"]["ownerReferences"][0]["name"]
            assert owner not in old_rs
        assert st["timeline"].get("remediatedAt")
        remediation_s = st["measurements"]["remediationSeconds"]
        assert remediation_s > 0
        vertical = [a for a in st["actions"] if a["kind"] == "VerticalResize"]
        assert len(vertical) == 1 and vertical[0]["state"] == "Applied"

        done = ops.wait_completed("mono", 90)
        ops.wait_rolled_out("shop")
        header, row = ops.cluster.kubectl("get", "fsc", "mono", "-n", ops.ns, "-o", "wide").split(
            "\n"
        )[:2]
    assert done["phase"] == "Recovered", done["message"]
    # `kubectl get fsc -o wide` shows the headline figures, rounded to be read.
    # kubectl aligns columns and leaves a null blank: cut the row where the header's names start.
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    columns = {
        header[a:b].strip(): row[a:b].strip()
        for a, b in zip(starts, [*starts[1:], None], strict=True)
    }
    assert list(columns) == [
        "NAME",
        "PHASE",
        "ARCHITECTURE",
        "TARGET",
        "MTTR",
        "AGE",
        "PEAK-P95",
        "PEAK-ERRORS",
        "DOWNTIME",
        "REASON",
    ]
    assert (columns["PHASE"], columns["TARGET"]) == ("Recovered", "shop")
    # No Prometheus in this scenario: no peak latency to show.
    assert columns["PEAK-P95"] == columns["PEAK-ERRORS"] == ""
    # Durations read as kubectl prints an age, not as raw floats.
    assert re.fullmatch(r"\d+s|\d+m\d*s?", columns["MTTR"]), columns["MTTR"]
    assert columns["MTTR"] == human_duration(done["measurements"]["mttrSeconds"])
    assert columns["DOWNTIME"] == human_duration(done["measurements"]["downtimeSeconds"])
    assert columns["REASON"] == done["reason"]
    assert (condition(done, "Reverted") or {}).get("status") == "True"
    kinds = sorted(a["kind"] for a in check_actions(done))
    assert kinds == ["CPUStressContainer", "CPUStressContainer", "VerticalResize"]
    assert shape(ops.deployment("shop")) == before
    downtime = done["measurements"]["downtimeSeconds"]
    if rollout == "Full":
        # maxUnavailable 0: never without a Ready pod, and the status says so.
        assert downtime == 0
        assert not watch.drops(), watch.drops()
    else:
        # Recreate stops every pod first: the gap is real, seen here and in the status.
        assert watch.zero_seconds() > 0
        assert 0 < downtime <= watch.zero_seconds() + 3
    print(f"\n{rollout}: remediation {remediation_s:.1f}s, downtime {downtime:.1f}s")


def test_msa_hpa_scale_out_and_rolling_update_of_order_only(ops: Ops) -> None:
    services = ("gateway", "order", "inventory", "payment")
    start_echo(ops, *(echo(s) for s in services), hpa("order", 1, 3))
    others = ("gateway", "inventory", "payment")

    def untouched() -> dict[str, tuple[int, list[str]]]:
        return {s: (ops.deployment(s)["metadata"]["generation"], ops.ready_pods(s)) for s in others}

    others_before = untouched()
    hpa_before = (ops.hpa("order") or {})["spec"]
    order_before = shape(ops.deployment("order"))
    old_order_pods = set(ops.ready_pods("order"))
    plan = {
        "minReplicas": 3,
        "maxReplicas": 4,
        "targetCPUUtilization": 80,
        "maxSurge": 1,
        "maxUnavailable": 0,
    }
    watch = ReadyWatch(ops, "order")
    with operator(ops), watch:
        ops.create(
            scenario("order-spike", "msa", "order", faults=[cpu_stress(selector="One")], plan=plan)
        )
        st = ops.wait_phase("order-spike", "Verifying", 120)
        h = ops.hpa("order") or {}
        assert h["spec"]["minReplicas"] == 3 and h["spec"]["maxReplicas"] == 4
        d = ops.deployment("order")
        assert d["spec"]["replicas"] == 3 and rolled_out(d)
        # The HPA controller scaled it (through the scale subresource), not the operator.
        owners = [
            (m.get("manager"), m.get("subresource"))
            for m in d["metadata"]["managedFields"]
            if "f:replicas" in ((m.get("fieldsV1") or {}).get("f:spec") or {})
        ]
        assert owners == [("kube-controller-manager", "scale")], owners
        assert (h.get("status") or {}).get("desiredReplicas") == 3
        assert not [a for a in st["actions"] if "replicas" in json.dumps(a["detail"])]
        # A rolling update of order: every old pod replaced, under the spec's strategy.
        assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert d["spec"]["template"]["metadata"]["annotations"].get(RESTARTED_AT)
        assert not set(ops.ready_pods("order")) & old_order_pods
        # gateway, inventory and payment: same generation, same pods.
        assert untouched() == others_before
        assert st["blastRadius"]["affectedServices"] == ["order"]
        assert st["blastRadius"]["unaffectedServices"] == list(others)

        done = ops.wait_completed("order-spike", 90)
        ops.wait_rolled_out("order")
    assert done["phase"] == "Recovered", done["message"]
    assert not watch.drops(), f"Ready pods dropped: {watch.drops()}"
    assert max(s.ready for s in watch.samples) >= 3
    kinds = sorted(a["kind"] for a in check_actions(done))
    assert kinds == ["CPUStressContainer", "HPAScaleOut", "RollingUpdate"]
    assert (ops.hpa("order") or {})["spec"] == hpa_before
    after = shape(ops.deployment("order"))
    # The HPA owns the replica count (it scales back down after its stabilization window).
    assert {**after, "replicas": None} == {**order_before, "replicas": None}
    assert untouched() == others_before


@pytest.mark.parametrize("moment", ["Injecting", "Verifying"])
def test_deleting_a_running_scenario_reverts_everything(ops: Ops, moment: str) -> None:
    start_echo(ops, echo("shop", replicas=2))
    before = shape(ops.deployment("shop"))
    generation = ops.deployment("shop")["metadata"]["generation"]
    after, window = ("60s", "6s") if moment == "Injecting" else ("2s", "60s")
    with operator(ops):
        ops.create(scenario("doomed", "monolith", "shop", after=after, window=window))
        st = ops.wait_phase("doomed", moment, 120)
        stressed = wait_stress_running(ops, st) if moment == "Injecting" else []
        st = ops.status("doomed")
        live = [a["kind"] for a in st["actions"] if a["state"] == "Applied"]
        assert ("VerticalResize" in live) == (moment == "Verifying"), live
        deleted_at = time.monotonic()
        ops.custom.delete_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, "doomed")
        wait_until(lambda: ops.scenario("doomed") is None, 60, "the scenario to go")
        gone_after = time.monotonic() - deleted_at
        reverted = [e for e in ops.events("doomed") if e.reason == "Reverted"]
        assert reverted, [e.reason for e in ops.events("doomed")]
        ops.wait_rolled_out("shop")
    assert shape(ops.deployment("shop")) == before
    if moment == "Injecting":
        # Nothing but the stress was in effect: the Deployment was never written.
        assert ops.deployment("shop")["metadata"]["generation"] == generation
        for pod, container in stressed:

            def terminated(p: str = pod, c: str = container) -> Any:
                return ops.ephemeral_state(p, c).get("terminated")

            state = wait_until(
                terminated,
                30,
                f"stress in {pod} to stop",
            )
            assert state["exitCode"] == 0, state
            finished = next(
                e for e in ops.log_events(pod, container) if e.get("event") == "cpu_stress_finished"
            )
            assert finished["stopped_by_signal"] is True
            assert finished["achieved_cpus"] > 0
            assert finished["duration_seconds"] < 60  # stopped, not run to its --duration
    print(f"\ndeleted at {moment}: gone {gone_after:.1f}s after the delete")


def test_a_scenario_deleted_as_its_first_change_is_recorded_leaves_no_stress_running(
    ops: Ops,
) -> None:
    # What a user does on noticing a wrong target: delete at once. The stress containers may
    # not have started when the revert begins, and start a moment later; none may run on once
    # the scenario is gone (they were given ten minutes).
    start_echo(ops, echo("shop", replicas=2))
    with operator(ops):
        ops.create(scenario("oops", "monolith", "shop", duration="10m", after="5m"))

        def recorded() -> Json | None:
            st = ops.status("oops")
            return st if st.get("actions") else None

        wait_until(recorded, 60, "the first change to be recorded")
        ops.custom.delete_namespaced_custom_object(GROUP, VERSION, ops.ns, PLURAL, "oops")
        wait_until(lambda: ops.scenario("oops") is None, 120, "the scenario to go")
    added = [
        (p["metadata"]["name"], c["name"])
        for p in ops.pods("shop")
        for c in p["spec"].get("ephemeralContainers") or []
    ]
    for pod, container in added:
        state = ops.ephemeral_state(pod, container)
        assert "running" not in state, f"{container} in {pod} runs on: {state}"
        assert "waiting" not in state, f"{container} in {pod} may still start: {state}"
    print(f"\n{len(added)} stress container(s) added, none left running")


def test_operator_killed_mid_remediation_resumes_and_reverts_once(ops: Ops, tmp_path: Path) -> None:
    start_echo(ops, echo("order"))
    before = shape(ops.deployment("order"))
    plan = {"minReplicas": 3, "maxReplicas": 3, "maxSurge": 1, "maxUnavailable": 0}
    log = tmp_path / "operator.log"
    proc = operator_process(ops, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        ops.create(
            scenario("crash", "msa", "order", faults=[cpu_stress(selector="One")], plan=plan)
        )
        st = ops.wait_status(
            "crash",
            # Both remediation actions are recorded Pending in one write and applied one by
            # one: wait until the HPA is applied, so the kill lands mid-remediation.
            lambda s: (
                s.get("phase") == "Remediating"
                and any(a["kind"] == "RollingUpdate" for a in s.get("actions") or [])
                and any(
                    a["kind"] == "HPAScaleOut" and a.get("state") == "Applied"
                    for a in s.get("actions") or []
                )
            ),
            120,
            "remediation under way, its HPA applied",
        )
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        killed_at = st["phase"], sorted(a["id"] for a in st["actions"])
        assert ops.hpa("order") is not None  # created by the operator, still in place
        second = operator_process(ops, log)
        done = ops.wait_completed("crash", 150)
        assert ops.events("crash") and ops.wait_event("crash", "Resumed")
        ops.wait_rolled_out("order")
        ops.delete_scenarios()
    finally:
        stop_operators(ops, "crash", proc, second)
    assert second is not None and second.returncode == 0, log.read_text()[-4000:]
    assert done["phase"] == "Recovered", done["message"]
    kinds = sorted(a["kind"] for a in check_actions(done))
    assert kinds == ["CPUStressContainer", "HPAScaleOut", "RollingUpdate"], killed_at
    # The HPA the operator created is gone and the Deployment has its own count back.
    assert ops.hpa("order") is None
    assert shape(ops.deployment("order")) == before


def test_operator_killed_between_recording_and_applying_a_change_applies_it_once(
    ops: Ops, tmp_path: Path
) -> None:
    """The narrowest crash window: the change is recorded Pending and its request is in flight.

    A webhook holds the operator's patch of the Deployment while the operator is killed; the
    patch then goes through. The second operator finds the action Pending, applies it again
    from what was recorded, and the Deployment is resized once, not twice, then given back.
    """
    start_echo(ops, echo("shop", cpu=("100m", "300m")))
    before = shape(ops.deployment("shop"))
    plan = {"cpuFactor": 2, "maxCpu": "2", "rollout": "Full"}
    log = tmp_path / "operator.log"
    apps = client.AppsV1Api(ops.cluster.api)
    proc: subprocess.Popen[bytes] | None = None
    second: subprocess.Popen[bytes] | None = None
    with holding_webhook(ops.cluster.api, ops.ns, "shop", tmp_path) as hook:
        # The apiserver picks the webhook up asynchronously: a dry-run update shows it is on.
        wait_until(
            lambda: (
                apps.patch_namespaced_deployment(
                    "shop", ops.ns, {"metadata": {"labels": {"probe": "1"}}}, dry_run="All"
                )
                and hook.seen
            ),
            30,
            "webhook in effect",
        )
        try:
            proc = operator_process(ops, log)
            ops.create(scenario("window", "monolith", "shop", plan=plan))
            assert hook.held.wait(120), "the operator never patched the Deployment"
            pending = ops.status("window")
            resize = [a for a in pending["actions"] if a["kind"] == "VerticalResize"]
            assert [a["state"] for a in resize] == ["Pending"], pending["actions"]
            os.killpg(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            hook.release.set()
            second = operator_process(ops, log)
            done = ops.wait_completed("window", 150)
            assert ops.wait_event("window", "Resumed")
            ops.wait_rolled_out("shop")
            ops.delete_scenarios()
        finally:
            stop_operators(ops, "window", proc, second)
        updates = hook.updates()
    assert second is not None and second.returncode == 0, log.read_text()[-4000:]
    assert done["phase"] == "Recovered", done["message"]
    kinds = sorted(a["kind"] for a in check_actions(done))
    assert kinds == ["CPUStressContainer", "VerticalResize"]
    # Every patch set the recorded size or gave the original back; none doubled it again.
    requested = [q(app_resources(d)["requests"]["cpu"]) for d in updates]
    assert q("200m") in requested and q("100m") == requested[-1], requested
    assert set(requested) <= {q("100m"), q("200m")}, requested
    # ...and the second operator did take it up from the record.
    assert "resuming recorded action r-resize (VerticalResize" in log.read_text()
    assert shape(ops.deployment("shop")) == before


def test_a_scenario_that_times_out_reverts_everything(ops: Ops) -> None:
    start_echo(ops, echo("shop", cpu=("250m", "500m")))
    before = shape(ops.deployment("shop"))
    [original] = ops.ready_pods("shop")
    # 16 x 250m is more CPU than the node has: the new pod never schedules, the rollout
    # never completes, and the scenario's duration ends it.
    plan = {"cpuFactor": 16, "maxCpu": "8"}
    with operator(ops):
        ops.create(scenario("stuck", "monolith", "shop", duration="30s", plan=plan))
        ops.wait_phase("stuck", "Remediating", 60)
        done = ops.wait_completed("stuck", 60)
        ops.wait_rolled_out("shop")
    assert done["phase"] == "Failed" and done["reason"] == "DurationElapsed", done["message"]
    assert (condition(done, "Reverted") or {}).get("status") == "True"
    kinds = sorted(a["kind"] for a in check_actions(done))
    assert kinds == ["CPUStressContainer", "VerticalResize"]
    assert shape(ops.deployment("shop")) == before
    # maxUnavailable 0 kept the original pod through it all.
    assert ops.ready_pods("shop") == [original]
    assert done["measurements"]["downtimeSeconds"] == 0
    assert [p["metadata"]["name"] for p in ops.pods("shop")] == [original]


def test_manual_mode_proposes_and_waits_for_approval(ops: Ops) -> None:
    start_echo(ops, echo("shop"))
    before = shape(ops.deployment("shop"))
    generation = ops.deployment("shop")["metadata"]["generation"]
    with operator(ops):
        ops.create(scenario("manual", "monolith", "shop", mode="Manual"))
        st = ops.wait_status(
            "manual",
            lambda s: s.get("reason") == "AwaitingApproval" and s.get("proposals"),
            60,
            "a proposal",
        )
        [proposal] = st["proposals"]
        assert proposal["kind"] == "VerticalResize" and proposal["target"] == "deployment/shop"
        assert q(proposal["detail"]["resources"]["limits"]["cpu"]) == q("400m")
        event = ops.wait_event("manual", "RemediationProposed")
        assert "gameday.io/approve" in (event.message or "")
        wait_stress_running(ops, st)
        # Several ticks later: still only proposed, nothing applied.
        seen = {st["progress"]["lastTickAt"]}

        def more_ticks() -> bool:
            seen.add(ops.status("manual")["progress"]["lastTickAt"])
            return len(seen) >= 4

        wait_until(more_ticks, 30, "three more ticks")
        st = ops.status("manual")
        assert st["phase"] == "Degraded" and st["reason"] == "AwaitingApproval"
        assert [a["kind"] for a in st["actions"]] == ["CPUStressContainer"]
        assert ops.deployment("shop")["metadata"]["generation"] == generation

        ops.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ops.ns,
            PLURAL,
            "manual",
            {"metadata": {"annotations": {"gameday.io/approve": "true"}}},
        )
        st = ops.wait_phase("manual", "Verifying", 90)
        assert q(app_resources(ops.deployment("shop"))["limits"]["cpu"]) == q("400m")
        done = ops.wait_completed("manual", 60)
        ops.wait_rolled_out("shop")
    assert done["phase"] == "Recovered", done["message"]
    assert sorted(a["kind"] for a in check_actions(done)) == [
        "CPUStressContainer",
        "VerticalResize",
    ]
    assert shape(ops.deployment("shop")) == before


def test_none_mode_observes_only(ops: Ops) -> None:
    start_echo(ops, echo("shop"))
    before = shape(ops.deployment("shop"))
    generation = ops.deployment("shop")["metadata"]["generation"]
    with operator(ops):
        ops.create(scenario("watch", "monolith", "shop", mode="None", duration="30s"))
        st = ops.wait_status("watch", lambda s: stress_containers(s), 60, "the stress")
        wait_stress_running(ops, st)
        st = ops.wait_phase("watch", "Degraded", 30)
        done = ops.wait_completed("watch", 60)
    assert done["phase"] == "Failed" and done["reason"] == "DurationElapsed"
    assert done.get("proposals") == []
    assert condition(done, "Remediated") is None
    assert [a["kind"] for a in check_actions(done)] == ["CPUStressContainer"]
    assert ops.deployment("shop")["metadata"]["generation"] == generation
    assert shape(ops.deployment("shop")) == before
