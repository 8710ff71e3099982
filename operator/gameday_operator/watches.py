"""What a tick reads of the namespaces where scenarios run, kept by watches, so that it finds it
in memory instead of asking the API server at every tick: the targets' Deployments, and the
pods that carry injectors (whose health a tick checks while the faults are in).

One watch per namespace and kind (a paginated list, then a watch from its resourceVersion,
listed again when the server says it is too old), started by the first tick that asks there and
ended once no tick has asked for `idle_seconds`: a namespace where nothing runs is not watched.
Until its first list is complete, and while its watch is broken (the API server away, or a 403
where the operator may not list), `get` says it does not know, and the caller reads.

Each object is kept as `keep` trims it (None: not kept), so that memory follows what the ticks
read, not what the namespace holds: a namespace of 10,000 pods of which 1,000 carry an injector
keeps 1,000 small records.

Not kopf's `@kopf.index`: kopf watches an indexed resource wherever it serves, which for an
operator serving every namespace is a cluster-wide list and watch of every Deployment, while
the operator's rights on workloads are granted namespace by namespace (docs/security.md).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gameday_operator.api_errors import describe
from gameday_operator.kube import LIST_PAGE, Kube
from gameday_operator.model import JsonDict

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


ListPage = Callable[[str, int, str | None], JsonDict]
Watch = Callable[[str, str, float], Iterator[JsonDict]]
Keep = Callable[[JsonDict], JsonDict | None]


@dataclass
class _Watched:
    """One namespace's objects by name (as kept), and whether they are complete (`synced`)."""

    asked_at: float
    by_name: dict[str, JsonDict] = field(default_factory=dict)
    synced: bool = False
    problem: str = ""


class NamespaceCache:
    """The objects of one kind in each namespace a tick asks about, as `keep` trims them."""

    def __init__(
        self,
        kind: str,
        list_page: ListPage,
        watch: Watch,
        keep: Keep,
        watch_seconds: float,
        idle_seconds: float = 300.0,
    ) -> None:
        self.kind = kind
        self.list_page = list_page
        self.watch = watch
        self.keep = keep
        self.watch_seconds = watch_seconds
        self.idle_seconds = idle_seconds
        self._watched: dict[str, _Watched] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()

    def get(self, namespace: str, name: str) -> tuple[bool, JsonDict | None]:
        """(True, the object as kept, or None if there is none or it is not kept) when the
        namespace's watch is complete; (False, None) when it is not (yet): then read it."""
        with self._guard:
            watched = self._watched.get(namespace)
            if watched is None:
                watched = self._watched[namespace] = _Watched(asked_at=time.monotonic())
                threading.Thread(
                    target=self._run,
                    args=(namespace, watched),
                    name=f"watch {self.kind} {namespace}",
                    daemon=True,
                ).start()
            watched.asked_at = time.monotonic()
            if not watched.synced:
                return False, None
            found = watched.by_name.get(name)
        return True, copy.deepcopy(found) if found is not None else None

    def stop(self) -> None:
        self._stop.set()

    def _idle(self, watched: _Watched) -> bool:
        return self._stop.is_set() or time.monotonic() - watched.asked_at > self.idle_seconds

    def _run(self, namespace: str, watched: _Watched) -> None:
        backoff = 1.0
        try:
            while not self._idle(watched):
                try:
                    self._follow(namespace, watched)
                    backoff = 1.0
                except Exception as exc:
                    problem = describe(exc)
                    with self._guard:
                        watched.synced = False
                        said, watched.problem = watched.problem, problem
                    if problem != said:
                        log.warning(
                            "%s of %s not watched (%s): each tick reads them",
                            self.kind,
                            namespace,
                            problem,
                        )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            with self._guard:
                if self._watched.get(namespace) is watched:
                    del self._watched[namespace]

    def _follow(self, namespace: str, watched: _Watched) -> None:
        """List, then watch until the server says the list is too old or the namespace idles."""
        version = self._list(namespace, watched)
        while not self._idle(watched):
            for event in self.watch(namespace, version, self.watch_seconds):
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    return  # 410 Gone, mostly: list again
                meta = obj.get("metadata") or {}
                version = str(meta.get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    kept = None if kind == "DELETED" else self.keep(obj)
                    with self._guard:
                        if kept is None:  # gone, or no longer what is kept
                            watched.by_name.pop(str(meta.get("name")), None)
                        else:
                            watched.by_name[str(meta.get("name"))] = kept
                if self._idle(watched):
                    return

    def _list(self, namespace: str, watched: _Watched) -> str:
        """Every object of the namespace, page by page, as kept; the list's resourceVersion."""
        found: dict[str, JsonDict] = {}
        continue_: str | None = None
        while True:
            page = self.list_page(namespace, LIST_PAGE, continue_)
            for item in page.get("items") or []:
                kept = self.keep(item)
                if kept is not None:
                    found[str(item["metadata"]["name"])] = kept
            meta = page.get("metadata") or {}
            continue_ = meta.get("continue") or None
            if continue_ is None:
                with self._guard:
                    watched.by_name, watched.synced, watched.problem = found, True, ""
                return str(meta.get("resourceVersion") or "")


def without_managed_fields(obj: JsonDict) -> JsonDict:
    """The object without metadata.managedFields, which no tick reads and which can be half of
    a Deployment's size."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def injected_pod(pod: JsonDict) -> JsonDict | None:
    """What injector health (`faults.pods.injector_failure`) reads of a pod that carries
    ephemeral containers (None for one that carries none: no injector of it can have failed):
    its name, uid and deletion, its ephemeral containers' names, its phase and their statuses.
    A field that function comes to read must be kept here too (tests/unit/test_watches.py
    checks a failure is seen through this copy)."""
    spec = pod.get("spec") or {}
    added = spec.get("ephemeralContainers") or []
    if not added:
        return None
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "uid", "deletionTimestamp") if k in meta},
        "spec": {"ephemeralContainers": [{"name": c.get("name")} for c in added]},
        "status": {
            "phase": status.get("phase"),
            "ephemeralContainerStatuses": status.get("ephemeralContainerStatuses") or [],
        },
    }


def deployment_cache(kube: Kube, watch_seconds: float) -> NamespaceCache:
    """The targets' Deployments (until remediation a tick reads its target here)."""
    return NamespaceCache(
        "Deployments",
        kube.list_deployments,
        kube.watch_deployments,
        without_managed_fields,
        watch_seconds,
    )


def injected_pod_cache(kube: Kube, watch_seconds: float) -> NamespaceCache:
    """The pods that carry ephemeral containers (while the faults are in a tick checks each
    injector's health here)."""
    return NamespaceCache("pods", kube.list_pod_page, kube.watch_pods, injected_pod, watch_seconds)
