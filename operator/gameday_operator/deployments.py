"""The Deployments of the namespaces where scenarios run, kept by a watch, so that a tick finds
its target in memory instead of asking the API server (one read per scenario and tick before).

One watch per namespace (a paginated list, then a watch from its resourceVersion, listed again
when the server says it is too old), started by the first tick that asks there and ended once
no tick has asked for `idle_seconds`: a namespace where nothing runs is not watched. Until its
first list is complete, and while its watch is broken (the API server away, or a 403 where the
operator may not list Deployments), `get` says it does not know, and the caller reads.

Not kopf's `@kopf.index`: kopf watches an indexed resource wherever it serves, which for an
operator serving every namespace is a cluster-wide list and watch of every Deployment, while
the operator's rights on workloads are granted namespace by namespace (docs/security.md).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field

from gameday_operator.api_errors import describe
from gameday_operator.kube import LIST_PAGE, Kube
from gameday_operator.model import JsonDict

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


@dataclass
class _Watched:
    """One namespace's Deployments by name, and whether they are complete (`synced`)."""

    asked_at: float
    by_name: dict[str, JsonDict] = field(default_factory=dict)
    synced: bool = False
    problem: str = ""


class DeploymentCache:
    def __init__(self, kube: Kube, watch_seconds: float, idle_seconds: float = 300.0) -> None:
        self.kube = kube
        self.watch_seconds = watch_seconds
        self.idle_seconds = idle_seconds
        self._watched: dict[str, _Watched] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()

    def get(self, namespace: str, name: str) -> tuple[bool, JsonDict | None]:
        """(True, the Deployment or None if there is none) when the namespace's watch is
        complete; (False, None) when it is not (yet): then read it."""
        with self._guard:
            watched = self._watched.get(namespace)
            if watched is None:
                watched = self._watched[namespace] = _Watched(asked_at=time.monotonic())
                threading.Thread(
                    target=self._run,
                    args=(namespace, watched),
                    name=f"watch deployments {namespace}",
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
                            "Deployments of %s not watched (%s): each tick reads its target",
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
            for event in self.kube.watch_deployments(namespace, version, self.watch_seconds):
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    return  # 410 Gone, mostly: list again
                meta = obj.get("metadata") or {}
                version = str(meta.get("resourceVersion") or version)
                with self._guard:
                    if kind == "DELETED":
                        watched.by_name.pop(str(meta.get("name")), None)
                    elif kind in ("ADDED", "MODIFIED"):
                        watched.by_name[str(meta.get("name"))] = obj
                if self._idle(watched):
                    return

    def _list(self, namespace: str, watched: _Watched) -> str:
        """Every Deployment of the namespace, page by page; the list's resourceVersion."""
        found: dict[str, JsonDict] = {}
        continue_: str | None = None
        while True:
            page = self.kube.list_deployments(namespace, LIST_PAGE, continue_)
            for item in page.get("items") or []:
                found[str(item["metadata"]["name"])] = item
            meta = page.get("metadata") or {}
            continue_ = meta.get("continue") or None
            if continue_ is None:
                with self._guard:
                    watched.by_name, watched.synced, watched.problem = found, True, ""
                return str(meta.get("resourceVersion") or "")
