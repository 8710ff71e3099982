"""An in-memory stand-in for the operator's Kubernetes adapter (`gameday_operator.kube.Kube`).

It keeps the adapter's surface and its error contract, as the API server behind the real one
shows it: a get of a missing object is None, a delete of one is False, a patch of one raises
ApiException 404; creating a Job that exists is False, an HPA that exists raises 409. A patch
that changes nothing keeps the object's resourceVersion (and a Deployment's generation), as the
API server does, so a test can tell a second apply that changed nothing from one that did.

Exec refused by the API server or the kubelet raises what the real adapter raises: a missing
pod 404, a container that is unknown or not running 400. What a command prints is the business
of `exec_handler`, pluggable; by default the fake plays the two scripts the operator runs in
pods: the CPU hog scripts of `builders` (loops counted per pod, container and tag) and
`kill -TERM 1` in an ephemeral container (which then exits).

The fake knows no Events or Secrets: the adapter has no such methods (the shell emits Events
through the callable it is given).
"""

from __future__ import annotations

import copy
import itertools
import logging
import queue
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from gameday_operator import builders
from gameday_operator.actuators import Context
from gameday_operator.config import Config
from gameday_operator.kube import MERGE, STRATEGIC, Kube
from gameday_operator.metrics import OperatorMetrics
from gameday_operator.model import GROUP, VERSION, JsonDict, Scenario, format_time, parse_scenario
from gameday_operator.observation import Observation
from gameday_operator.runtime import Runtime
from gameday_operator.shell import Writer
from tests.fixtures.workloads import echo_deployment

ExecHandler = Callable[[str, str, str, list[str]], str]  # (namespace, pod, container, command)
Key = tuple[str, str]  # (namespace, name)


def api_error(status: int, reason: str) -> ApiException:
    return ApiException(status=status, reason=reason)


def exec_refused(status: int, message: str) -> ApiException:
    """What `Kube.exec` raises when the server refuses the exec upgrade with `status`."""
    text = {400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    return ApiException(status=status, reason=f"Handshake status {status} {text} -+-+- {message}")


# ------------------------------------------------------------------------------- patching


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null removes, anything else (lists too) replaces."""
    return _merge(target, patch, strategic=False)


def strategic_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch as far as the operator's patches need it: a merge patch whose
    lists of named items (containers, ephemeralContainers, env) merge by name.

    Directives ($patch, $retainKeys, ...) are not modelled: a patch carrying one fails here
    rather than being applied wrongly."""
    return _merge(target, patch, strategic=True)


def _named(items: object) -> bool:
    return isinstance(items, list) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _merge(target: Any, patch: Any, *, strategic: bool) -> Any:
    if isinstance(patch, Mapping):
        directives = [k for k in patch if str(k).startswith("$")]
        if strategic and directives:
            raise NotImplementedError(f"FakeKube does not model patch directives {directives}")
        out = dict(target) if isinstance(target, Mapping) else {}
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(out.get(key), value, strategic=strategic)
        return out
    if strategic and _named(patch) and _named(target):
        merged = [dict(i) for i in target]
        for item in patch:
            at = next((n for n, old in enumerate(merged) if old["name"] == item["name"]), None)
            if at is None:
                merged.append(copy.deepcopy(dict(item)))
            else:
                merged[at] = _merge(merged[at], item, strategic=True)
        return merged
    return copy.deepcopy(patch)


def as_stored(value: Any) -> Any:
    """JSON as the API server gives it back: it decodes a whole number into int64 and writes a
    whole float64 without its fraction, so 2.0 is read back as 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stored(v) for v in value]
    return value


def _patched(content_type: str, target: JsonDict, body: Any) -> JsonDict:
    if content_type == MERGE:
        out: JsonDict = merge_patch(target, body)
    elif content_type == STRATEGIC:
        out = strategic_patch(target, body)
    else:
        raise NotImplementedError(f"FakeKube models merge and strategic patches: {content_type}")
    return out


def selected_by(query: str, labels: Mapping[str, str]) -> bool:
    """Whether the API server's label-selector string `query` selects `labels`: terms `k`,
    `!k`, `k=v`, `k==v`, `k!=v`, `k in (v,...)`, `k notin (v,...)`, joined by commas; ""
    selects all. Written from the API's grammar, not from `selectors`, which renders them."""
    terms = re.findall(r"(?:[^,(]|\([^)]*\))+", query)
    if ",".join(terms) != query:
        raise api_error(400, f"Bad Request: unable to parse requirement: {query!r}")
    return all(_term_holds(t.strip(), labels) for t in terms)


def _term_holds(term: str, labels: Mapping[str, str]) -> bool:
    if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", term):
        key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
        if op == "in":
            return key in labels and labels[key] in values
        return key not in labels or labels[key] not in values
    if m := re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)", term):
        key, op, value = m[1], m[2], m[3]
        return (labels.get(key) == value) if op != "!=" else labels.get(key) != value
    if m := re.fullmatch(r"(!?)\s*([^=!\s()]+)", term):
        return (m[2] in labels) != bool(m[1])
    raise api_error(400, f"Bad Request: unable to parse requirement: {term!r}")


def _listed(store: dict[Key, JsonDict], namespace: str, query: str) -> list[JsonDict]:
    return [
        copy.deepcopy(obj)
        for (ns, _), obj in sorted(store.items())
        if ns == namespace and selected_by(query, obj["metadata"].get("labels") or {})
    ]


# ----------------------------------------------------------------------------- the adapter


class FakeKube(Kube):
    """The adapter over dicts in memory. Every public method of `Kube` is overridden; none
    reaches a client (there is none)."""

    def __init__(self, exec_handler: ExecHandler | None = None) -> None:
        # No super().__init__(): it would build API clients; nothing here may use one.
        self.timeout = 0.0
        self.namespaces: dict[str, JsonDict] = {}
        self.scenarios: dict[Key, JsonDict] = {}
        self.deployments: dict[Key, JsonDict] = {}
        self.replica_sets: dict[Key, JsonDict] = {}
        self.pods: dict[Key, JsonDict] = {}
        self.hpas: dict[Key, JsonDict] = {}
        self.jobs: dict[Key, JsonDict] = {}
        self.services: dict[Key, JsonDict] = {}
        self.endpoint_slices: dict[Key, JsonDict] = {}
        self.leases: dict[Key, JsonDict] = {}
        self.config_maps: dict[Key, JsonDict] = {}
        self.pod_logs: dict[Key, str] = {}  # (namespace, pod): its container's log
        # Namespaces where the operator's ClusterRole for workloads is not bound: the API
        # server answers 403 to what it reads there.
        self.unbound: set[str] = set()
        self.calls: list[tuple[str, ...]] = []  # (method, namespace, name) of every call
        # What a watch of Deployments (of pods) delivers, in order; what a list of them raises.
        self.deployment_events: queue.Queue[JsonDict | None] = queue.Queue()
        self.pod_events: queue.Queue[JsonDict | None] = queue.Queue()
        self.list_refusal: ApiException | None = None
        self.execs: list[tuple[str, str, str, list[str]]] = []
        self.hogs = CpuHogs()
        self.exec_handler: ExecHandler = exec_handler or self.play
        self._versions = itertools.count(1)

    # ----------------------------------------------------------------- the store itself

    def _stamp(self, obj: JsonDict, namespace: str | None) -> JsonDict:
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(next(self._versions))
        return obj

    def _insert(self, store: dict[Key, JsonDict], namespace: str, body: JsonDict) -> JsonDict:
        obj = self._stamp(copy.deepcopy(body), namespace)
        key = (namespace, obj["metadata"]["name"])
        if key in store:
            raise api_error(409, "Conflict")
        if "spec" in obj:
            obj["metadata"]["generation"] = 1
        store[key] = obj
        return copy.deepcopy(obj)

    def _created(self, store: dict[Key, JsonDict], namespace: str, body: JsonDict) -> bool:
        """`Kube._create`'s contract: True if created, False if the name is taken (409)."""
        try:
            self._insert(store, namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _update(
        self, store: dict[Key, JsonDict], key: Key, fn: Callable[[JsonDict], JsonDict]
    ) -> JsonDict:
        """Replace the object by fn(object); an unchanged one keeps its resourceVersion."""
        if key not in store:
            raise api_error(404, "Not Found")
        before = store[key]
        after = fn(copy.deepcopy(before))
        if after != before:
            if after.get("spec") != before.get("spec") and "generation" in after["metadata"]:
                after["metadata"]["generation"] = int(before["metadata"]["generation"]) + 1
            self._stamp(after, None)
            store[key] = after
        return copy.deepcopy(store[key])

    @staticmethod
    def _read(store: dict[Key, JsonDict], key: Key) -> JsonDict | None:
        found = store.get(key)
        return copy.deepcopy(found) if found is not None else None

    def _call(self, method: str, *args: str) -> None:
        self.calls.append((method, *args))

    def called(self, method: str) -> int:
        """How many calls of `method` the fake has had."""
        return sum(1 for c in self.calls if c[0] == method)

    # ---------------------------------------------------------------- setting the scene

    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> JsonDict:
        ns = self._stamp({"metadata": {"name": name, "labels": dict(labels or {})}}, None)
        self.namespaces[name] = ns
        return copy.deepcopy(ns)

    def add_scenario(self, body: JsonDict) -> JsonDict:
        return self._insert(self.scenarios, body["metadata"]["namespace"], body)

    def add_deployment(self, namespace: str, body: JsonDict) -> JsonDict:
        return self._insert(self.deployments, namespace, body)

    def add_replica_set(self, namespace: str, body: JsonDict) -> JsonDict:
        return self._insert(self.replica_sets, namespace, body)

    def add_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        return self._insert(self.pods, namespace, body)

    def add_hpa(self, namespace: str, body: JsonDict) -> JsonDict:
        return self._insert(self.hpas, namespace, body)

    def remove_pod(self, namespace: str, name: str) -> None:
        """The pod is gone (replaced by a rollout, evicted and collected, ...)."""
        del self.pods[(namespace, name)]

    def set_ephemeral_state(
        self, namespace: str, pod: str, container: str, state: str, **detail: Any
    ) -> None:
        """What the kubelet reports of an ephemeral container: waiting, running or terminated."""

        def report(p: JsonDict) -> JsonDict:
            statuses = p.setdefault("status", {}).setdefault("ephemeralContainerStatuses", [])
            entry = {"name": container, "state": {state: dict(detail)}}
            for n, s in enumerate(statuses):
                if s["name"] == container:
                    statuses[n] = entry
                    return p
            statuses.append(entry)
            return p

        self._update(self.pods, (namespace, pod), report)

    def ephemeral_state(self, namespace: str, pod: str, container: str) -> str | None:
        statuses = (self.pods[(namespace, pod)].get("status") or {}).get(
            "ephemeralContainerStatuses"
        ) or []
        state: JsonDict = next((s["state"] for s in statuses if s["name"] == container), {})
        return next(iter(state), None)

    # --------------------------------------------------------------------- scenarios

    def get_scenario(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_scenario", namespace, name)
        return self._read(self.scenarios, (namespace, name))

    def patch_scenario_status(self, namespace: str, name: str, status: JsonDict) -> JsonDict:
        self._call("patch_scenario_status", namespace, name)
        return self._update(
            self.scenarios,
            (namespace, name),
            lambda obj: {**obj, "status": as_stored(merge_patch(obj.get("status"), status))},
        )

    # -------------------------------------------------------------- namespaces, apps

    def get_namespace(self, name: str) -> JsonDict | None:
        self._call("get_namespace", name)
        found = self.namespaces.get(name)
        return copy.deepcopy(found) if found is not None else None

    def list_deployments(
        self, namespace: str, limit: int = 500, continue_: str | None = None
    ) -> JsonDict:
        self._call("list_deployments", namespace)
        return self._page(self.deployments, namespace, limit, continue_)

    def watch_deployments(
        self, namespace: str, resource_version: str, timeout_seconds: float
    ) -> Iterator[JsonDict]:
        """The events a test puts in `deployment_events` (None ends the watch)."""
        self._call("watch_deployments", namespace, resource_version)
        return _delivered(self.deployment_events, timeout_seconds)

    def _page(
        self, store: dict[Key, JsonDict], namespace: str, limit: int, continue_: str | None
    ) -> JsonDict:
        if self.list_refusal is not None:
            raise self.list_refusal
        names = sorted(n for ns, n in store if ns == namespace)
        start = int(continue_ or 0)
        meta: JsonDict = {"resourceVersion": str(next(self._versions))}
        if start + limit < len(names):
            meta["continue"] = str(start + limit)
        items = [copy.deepcopy(store[(namespace, n)]) for n in names[start:][:limit]]
        return {"metadata": meta, "items": items}

    def get_deployment(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_deployment", namespace, name)
        if namespace in self.unbound:
            raise api_error(403, "Forbidden")
        return self._read(self.deployments, (namespace, name))

    def patch_deployment(
        self,
        namespace: str,
        name: str,
        body: JsonDict | Sequence[JsonDict],
        content_type: str = STRATEGIC,
    ) -> JsonDict:
        self._call("patch_deployment", namespace, name)
        return self._update(
            self.deployments, (namespace, name), lambda d: _patched(content_type, d, body)
        )

    def list_replica_sets(self, namespace: str, label_selector: str) -> list[JsonDict]:
        self._call("list_replica_sets", namespace)
        return _listed(self.replica_sets, namespace, label_selector)

    def list_pods(self, namespace: str, label_selector: str) -> list[JsonDict]:
        self._call("list_pods", namespace)
        return _listed(self.pods, namespace, label_selector)

    def get_pod(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_pod", namespace, name)
        return self._read(self.pods, (namespace, name))

    def list_pod_page(
        self, namespace: str, limit: int = 500, continue_: str | None = None
    ) -> JsonDict:
        self._call("list_pod_page", namespace)
        return self._page(self.pods, namespace, limit, continue_)

    def watch_pods(
        self, namespace: str, resource_version: str, timeout_seconds: float
    ) -> Iterator[JsonDict]:
        """The events a test puts in `pod_events` (None ends the watch)."""
        self._call("watch_pods", namespace, resource_version)
        return _delivered(self.pod_events, timeout_seconds)

    def add_ephemeral_container(self, namespace: str, pod: str, container: JsonDict) -> JsonDict:
        self._call("add_ephemeral_container", namespace, pod)

        def add(p: JsonDict) -> JsonDict:
            existing = p["spec"].setdefault("ephemeralContainers", [])
            same = next((c for c in existing if c["name"] == container["name"]), None)
            if same is None:
                existing.append(copy.deepcopy(container))
            elif same != container:
                raise api_error(422, "Unprocessable Entity: ephemeral containers are immutable")
            return p

        return self._update(self.pods, (namespace, pod), add)

    def resize_pod(self, namespace: str, pod: str, body: JsonDict) -> JsonDict:
        self._call("resize_pod", namespace, pod)
        return self._update(self.pods, (namespace, pod), lambda p: strategic_patch(p, body))

    def exec(self, namespace: str, pod: str, container: str, command: list[str]) -> str:
        self._call("exec", namespace, pod)
        self.execs.append((namespace, pod, container, list(command)))
        found = self.pods.get((namespace, pod))
        if found is None:
            raise exec_refused(404, f'pods "{pod}" not found')
        if (found.get("status") or {}).get("phase") != "Running":
            raise exec_refused(400, "cannot exec into a container in a completed pod")
        spec = found["spec"]
        if container in {c["name"] for c in spec.get("ephemeralContainers") or []}:
            if self.ephemeral_state(namespace, pod, container) != "running":
                raise exec_refused(400, f'container "{container}" is not running')
        elif container not in {c["name"] for c in spec["containers"]}:
            raise exec_refused(400, f"container {container} is not valid for pod {pod}")
        return self.exec_handler(namespace, pod, container, list(command))

    def play(self, namespace: str, pod: str, container: str, command: list[str]) -> str:
        """The default exec handler: the CPU hog scripts and the ephemeral injectors' stop."""
        if command[:2] == ["sh", "-c"] and command[2:] and command[2].endswith("kill -TERM 1"):
            self.set_ephemeral_state(namespace, pod, container, "terminated", exitCode=0)
            return ""
        return self.hogs(namespace, pod, container, command)

    # ---------------------------------------------------------------- autoscaling

    def get_hpa(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_hpa", namespace, name)
        return self._read(self.hpas, (namespace, name))

    def create_hpa(self, namespace: str, body: JsonDict) -> JsonDict:
        self._call("create_hpa", namespace, body["metadata"]["name"])
        return self._insert(self.hpas, namespace, body)

    def patch_hpa(self, namespace: str, name: str, body: JsonDict) -> JsonDict:
        self._call("patch_hpa", namespace, name)
        return self._update(self.hpas, (namespace, name), lambda h: merge_patch(h, body))

    def delete_hpa(self, namespace: str, name: str) -> bool:
        self._call("delete_hpa", namespace, name)
        return self.hpas.pop((namespace, name), None) is not None

    # ----------------------------------------------------------------------- jobs

    def get_job(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_job", namespace, name)
        return self._read(self.jobs, (namespace, name))

    def create_job(self, namespace: str, body: JsonDict) -> bool:
        self._call("create_job", namespace, body["metadata"]["name"])
        return self._created(self.jobs, namespace, body)

    def delete_job(self, namespace: str, name: str) -> bool:
        self._call("delete_job", namespace, name)
        return self.jobs.pop((namespace, name), None) is not None

    # ------------------------------------------------------------- logs, config maps

    def read_pod_log(self, namespace: str, pod: str, container: str) -> str:
        self._call("read_pod_log", namespace, pod)
        if (namespace, pod) not in self.pods:
            raise api_error(404, "Not Found")
        return self.pod_logs.get((namespace, pod), "")

    def get_config_map(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_config_map", namespace, name)
        return self._read(self.config_maps, (namespace, name))

    def create_config_map(self, namespace: str, body: JsonDict) -> bool:
        self._call("create_config_map", namespace, body["metadata"]["name"])
        return self._created(self.config_maps, namespace, body)

    # ------------------------------------------------------------------ services, leases

    def add_service(
        self,
        namespace: str,
        name: str,
        ports: Sequence[int],
        *,
        selector: Mapping[str, str] | None = None,
        type_: str | None = None,
        external_name: str | None = None,
        cluster_ip: str | None = None,
        pods: Mapping[str, int] | None = None,
    ) -> JsonDict:
        """A Service with `ports` (named p<port>) selecting `selector` ({app: NAME} by default;
        {}: none); `type_` and `external_name` as spec.type and spec.externalName have them
        (absent when None); its ClusterIP if given, and one EndpointSlice listing `pods`
        (address → the port each serves every Service port on)."""
        spec: JsonDict = {
            "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in ports],
            "selector": {"app": name} if selector is None else dict(selector),
        }
        if not spec["selector"]:
            del spec["selector"]
        if type_ is not None:
            spec["type"] = type_
        if external_name is not None:
            spec["externalName"] = external_name
        if cluster_ip is not None:
            spec["clusterIP"] = cluster_ip
            spec["clusterIPs"] = [cluster_ip]
        for address, target in (pods or {}).items():
            self.endpoint_slices[(namespace, f"{name}-{address}")] = {
                "metadata": {
                    "name": f"{name}-{address}",
                    "labels": {"kubernetes.io/service-name": name},
                },
                "endpoints": [{"addresses": [address]}],
                "ports": [{"name": f"p{p}", "port": target, "protocol": "TCP"} for p in ports],
            }
        return self._insert(self.services, namespace, {"metadata": {"name": name}, "spec": spec})

    def get_service(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_service", namespace, name)
        return self._read(self.services, (namespace, name))

    def list_endpoint_slices(self, namespace: str, service: str) -> list[JsonDict]:
        self._call("list_endpoint_slices", namespace, service)
        return _listed(self.endpoint_slices, namespace, f"kubernetes.io/service-name={service}")

    def get_lease(self, namespace: str, name: str) -> JsonDict | None:
        self._call("get_lease", namespace, name)
        return self._read(self.leases, (namespace, name))

    def create_lease(self, namespace: str, body: JsonDict) -> bool:
        self._call("create_lease", namespace, body["metadata"]["name"])
        # Every Lease is a new object: its uid is new even when its name is not.
        fresh = copy.deepcopy(body)
        fresh["metadata"]["uid"] = f"lease-{next(self._versions)}"
        return self._created(self.leases, namespace, fresh)

    def replace_lease(self, namespace: str, name: str, body: JsonDict) -> bool:
        self._call("replace_lease", namespace, name)
        found = self.leases.get((namespace, name))
        if found is None:
            raise api_error(404, "Not Found")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted != found["metadata"].get("resourceVersion"):
            return False
        stored = self._stamp(copy.deepcopy(body), namespace)
        self.leases[(namespace, name)] = stored
        return True

    def delete_lease(self, namespace: str, name: str, uid: str) -> bool:
        self._call("delete_lease", namespace, name)
        found = self.leases.get((namespace, name))
        if found is None or found["metadata"]["uid"] != uid:
            return False
        del self.leases[(namespace, name)]
        return True


# ------------------------------------------------------------------ the CPU hog, in a pod


@dataclass
class CpuHogs:
    """The busy loops the CPU hog scripts start and kill, per (namespace, pod, container, tag).

    `unkillable` loops survive the stop script (a process stuck in the kernel, say), so a
    revert sees them left."""

    loops: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    unkillable: int = 0

    def __call__(self, namespace: str, pod: str, container: str, command: list[str]) -> str:
        script, tag = command[2], command[4]
        key = (namespace, pod, container, tag)
        if script == builders.CPU_HOG_START_SCRIPT:
            if self.loops[key]:
                return f"gameday: running {self.loops[key]}\n"
            self.loops[key] = int(command[5])
            return f"gameday: started {self.loops[key]}\n"
        if script == builders.CPU_HOG_STOP_SCRIPT:
            self.loops[key] = min(self.loops[key], self.unkillable)
            return f"gameday: left {self.loops[key]}\n"
        if script == builders.CPU_HOG_COUNT_SCRIPT:
            return f"gameday: running {self.loops[key]}\n"
        raise AssertionError(f"the fake pod cannot run {command!r}")

    def running(self, pod: str) -> int:
        return sum(n for (_, p, _, _), n in self.loops.items() if p == pod)


# -------------------------------------------------------------------- the scene, in short

NS = "shop"
T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


ENV = {"CACHE_ENABLED": "false"}


def deployment(name: str = "web", replicas: int = 2) -> JsonDict:
    """The target: one container `app` (100m/500m CPU, 64Mi/128Mi, CACHE_ENABLED=false), all
    replicas ready."""
    d = echo_deployment(name, replicas, cpu=("100m", "500m"), memory=("64Mi", "128Mi"), env=ENV)
    d["status"] = {"replicas": replicas, "readyReplicas": replicas}
    return d


def controller(kind: str, name: str) -> JsonDict:
    """The ownerReference a controller sets on what it creates (the fake's uid is uid-NAME)."""
    api = "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1"
    ref = {"apiVersion": api, "kind": kind, "name": name, "uid": f"uid-{name}"}
    return {**ref, "controller": True, "blockOwnerDeletion": True}


def replica_set(deployment: JsonDict, name: str | None = None) -> JsonDict:
    """A ReplicaSet of `deployment` (the one its controller made): its labels, its selector."""
    owner = deployment["metadata"]["name"]
    labels = dict(deployment["spec"]["template"]["metadata"].get("labels") or {})
    labels["pod-template-hash"] = "5d4f8"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name or f"{owner}-5d4f8",
            "labels": labels,
            "ownerReferences": [controller("Deployment", owner)],
        },
        "spec": {"selector": deployment["spec"]["selector"]},
    }


def pod(
    name: str,
    app: str = "web",
    phase: str = "Running",
    *,
    labels: Mapping[str, str] | None = None,
    owner: str | None = "",
) -> JsonDict:
    """A pod of ReplicaSet `owner` (by default APP-5d4f8, made by `replica_set`); None: a bare
    pod, owned by nothing. `labels` replace {app: APP} (the pod-template-hash is added when
    it has an owner)."""
    meta: JsonDict = {"name": name, "labels": dict(labels or {"app": app})}
    if owner is not None:
        meta["labels"]["pod-template-hash"] = "5d4f8"
        meta["ownerReferences"] = [controller("ReplicaSet", owner or f"{app}-5d4f8")]
    return {
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "shop:dev",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                    },
                }
            ]
        },
        "status": {"phase": phase},
    }


def scenario_body(
    faults: Sequence[JsonDict], architecture: str = "monolith", **spec: Any
) -> JsonDict:
    raw: JsonDict = {
        "target": {"architecture": architecture, "deployment": "web"},
        "faults": list(faults),
        "duration": "5m",
        "steadyState": {"window": "30s"},
        "remediation": {"after": "20s"},
        **spec,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FailureScenario",
        "metadata": {"name": "gd", "namespace": NS, "uid": "0123456789-abcdef", "generation": 1},
        "spec": raw,
        "status": {"phase": "Injecting", "timeline": {"startedAt": format_time(T0)}},
    }


# One fault of each type (and mechanism), as spec.faults[] has them.
CPU_EXEC = {"type": "CPUStress", "cpuStress": {"load": 100, "workers": 2, "mechanism": "Exec"}}
STRESS = {"type": "CPUStress", "cpuStress": {"load": 50}}
MEMORY = {"type": "MemoryStress", "memoryStress": {"size": "32Mi"}}
NETEM = {"type": "NetworkLatency", "networkLatency": {"latency": "100ms", "interface": "eth1"}}
PROXY = {
    "type": "NetworkLatency",
    "networkLatency": {
        "latency": "50ms",
        "mechanism": "Proxy",
        "proxy": {"service": "pg", "port": 9000},
    },
}
LOAD = {
    "type": "TrafficSpike",
    "trafficSpike": {"target": {"service": "web", "port": 8080, "path": "/"}, "rps": 50},
}
DB = {
    "type": "DBSlowQuery",
    "dbSlowQuery": {
        "mode": "LockContention",
        "table": "orders",
        "databaseSecretRef": {"name": "db", "key": "dsn"},
    },
}
BANDWIDTH = {
    "type": "NetworkBandwidth",
    "networkBandwidth": {"rate": "1mbit", "destinations": [{"cidr": "10.0.0.0/8", "port": 5432}]},
}
LOSS = {
    "type": "NetworkLoss",
    "networkLoss": {
        "probability": 0.3,
        "direction": "Both",
        "destinations": [{"cidr": "fd00::/64"}],
    },
}
PARTITION = {"type": "NetworkPartition", "networkPartition": {"reject": True, "interface": "eth1"}}
NET_FAULTS = (BANDWIDTH, LOSS, PARTITION)
# One fault of each type and mechanism, in scenarios of at most 8 faults.
EVERY_FAULT = ((LOAD, STRESS, CPU_EXEC, MEMORY, DB, NETEM, PROXY), NET_FAULTS)


@dataclass
class Scene:
    """A fake cluster with the target Deployment and its pods, a scenario, and what the shell
    needs to act on it: the runtime, a context, the status writer and the Events it emits."""

    kube: FakeKube
    body: JsonDict
    rt: Runtime
    ctx: Context
    write: Writer
    events: list[tuple[str, str, str]]
    log: logging.Logger

    @property
    def scenario(self) -> Scenario:
        return self.ctx.scenario

    def emit(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    def deployment(self) -> JsonDict | None:
        """The target Deployment as a tick reads it (`shell.gather`), for a plan to start from."""
        return self.kube.get_deployment(NS, self.scenario.spec.target.deployment)

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def stored_status(self) -> JsonDict:
        status: JsonDict = self.kube.scenarios[(NS, self.scenario.name)]["status"]
        return status


def scene(
    faults: Sequence[JsonDict] = (CPU_EXEC,),
    architecture: str = "monolith",
    pods: Sequence[str] = ("web-a", "web-b"),
    **spec: Any,
) -> Scene:
    kube = FakeKube()
    kube.add_namespace(NS, {"gameday.io/enabled": "true"})
    target = kube.add_deployment(NS, deployment())
    kube.add_replica_set(NS, replica_set(target))
    for name in pods:
        kube.add_pod(NS, pod(name))
    body = kube.add_scenario(scenario_body(faults, architecture, **spec))

    def no_observation(_: Scenario, __: datetime) -> Observation | None:
        return None

    rt = Runtime(config=Config(), kube=kube, source=no_observation, metrics=OperatorMetrics())
    sc = parse_scenario(body)
    ctx = Context(kube=kube, config=rt.config, scenario=sc, body=body, now=T0)
    return Scene(kube, body, rt, ctx, Writer(rt, sc), [], logging.getLogger("test"))


def _delivered(events: queue.Queue[JsonDict | None], timeout_seconds: float) -> Iterator[JsonDict]:
    """What a test put in `events`, until a None or `timeout_seconds` without one."""
    while True:
        try:
            event = events.get(timeout=timeout_seconds)
        except queue.Empty:
            return
        if event is None:
            return
        yield event
