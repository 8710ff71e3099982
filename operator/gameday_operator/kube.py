"""A thin adapter over the kubernetes (sync) client: raw dicts in and out, 404 → None.

Every call carries the configured request timeout. Patches name their content type
explicitly. Nothing here decides anything; callers do.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.watch.watch import iter_resp_lines

from gameday_operator.model import GROUP, PLURAL, VERSION, JsonDict

log = logging.getLogger(__name__)

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
LIST_PAGE = 500


def load_client_config() -> None:
    """In-cluster credentials when running in a pod, else the local kubeconfig.

    KUBECONFIG is read now, not when the kubernetes package was imported (its default), so a
    process that sets it after that import still gets the cluster it names.
    """
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)


def is_status(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, ApiException) and exc.status in codes


class Kube:
    def __init__(
        self,
        api_client: kubernetes.client.ApiClient | None = None,
        timeout: float = 30.0,
        connections: int = 0,
    ) -> None:
        """`connections`: how many to keep open to the API server (0: the client's default);
        as many as threads may call at once, or each call beyond them opens and drops one."""
        if api_client is None:
            configuration = kubernetes.client.Configuration.get_default_copy()
            if connections:
                configuration.connection_pool_maxsize = connections
            api_client = kubernetes.client.ApiClient(configuration)
        self.api = api_client
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.apps = kubernetes.client.AppsV1Api(self.api)
        self.batch = kubernetes.client.BatchV1Api(self.api)
        self.autoscaling = kubernetes.client.AutoscalingV2Api(self.api)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.coordination = kubernetes.client.CoordinationV1Api(self.api)
        self.discovery = kubernetes.client.DiscoveryV1Api(self.api)
        self.timeout = timeout

    # -------------------------------------------------------------------------- plumbing

    def _raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonDict:
        resp = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        data = resp.data
        return json.loads(data) if data else {}

    def _get(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonDict | None:
        try:
            return self._raw(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _list(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[JsonDict]:
        """Every item of a list, LIST_PAGE at a time: a target of thousands of pods is not one
        answer of tens of megabytes for the API server to build and this process to parse."""
        items: list[JsonDict] = []
        continue_: str | None = None
        while True:
            page = self._raw(fn, *args, limit=LIST_PAGE, _continue=continue_, **kwargs)
            items.extend(page.get("items") or [])
            continue_ = (page.get("metadata") or {}).get("continue") or None
            if continue_ is None:
                return items

    def _create(self, fn: Callable[..., Any], namespace: str, body: JsonDict) -> bool:
        """True if created; False if one of that name exists already (409)."""
        try:
            self._raw(fn, namespace, body)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    def _delete(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """True if it was there; a 404 is fine (already gone)."""
        try:
            self._raw(fn, *args, **kwargs)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    # ------------------------------------------------------------------------- scenarios

    def get_scenario(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name
        )

    def patch_scenario_status(self, namespace: str, name: str, status: JsonDict) -> JsonDict:
        """Merge-patch the status subresource (lists are replaced whole)."""
        return self._raw(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _content_type=MERGE,
        )

    # ------------------------------------------------------------------ namespaces, apps

    def get_namespace(self, name: str) -> JsonDict | None:
        return self._get(self.core.read_namespace, name)

    def get_deployment(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.apps.read_namespaced_deployment, name, namespace)

    def list_deployments(
        self, namespace: str, limit: int = 500, continue_: str | None = None
    ) -> JsonDict:
        """One page of the namespace's Deployments: the list as the API returns it, with its
        metadata.resourceVersion and, when more remain, metadata.continue."""
        return self._raw(
            self.apps.list_namespaced_deployment, namespace, limit=limit, _continue=continue_
        )

    def watch_deployments(
        self, namespace: str, resource_version: str, timeout_seconds: float
    ) -> Iterator[JsonDict]:
        """The namespace's Deployment events from `resource_version` on (`_watch`)."""
        return self._watch(
            self.apps.list_namespaced_deployment, namespace, resource_version, timeout_seconds
        )

    def patch_deployment(
        self,
        namespace: str,
        name: str,
        body: JsonDict | Sequence[JsonDict],
        content_type: str = STRATEGIC,
    ) -> JsonDict:
        return self._raw(
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,
            _content_type=content_type,
        )

    def get_service(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.core.read_namespaced_service, name, namespace)

    def list_endpoint_slices(self, namespace: str, service: str) -> list[JsonDict]:
        """The EndpointSlices of a Service (by the label the EndpointSlice controller sets)."""
        out = self._raw(
            self.discovery.list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"kubernetes.io/service-name={service}",
        )
        return list(out.get("items") or [])

    def list_replica_sets(self, namespace: str, label_selector: str) -> list[JsonDict]:
        """ReplicaSets matching a label-selector string (`selectors.to_query`); "": all."""
        return self._list(
            self.apps.list_namespaced_replica_set, namespace, label_selector=label_selector
        )

    def list_pods(self, namespace: str, label_selector: str) -> list[JsonDict]:
        """Pods matching a label-selector string (`selectors.to_query`); "": all."""
        return self._list(self.core.list_namespaced_pod, namespace, label_selector=label_selector)

    def get_pod(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.core.read_namespaced_pod, name, namespace)

    def list_pod_page(
        self, namespace: str, limit: int = 500, continue_: str | None = None
    ) -> JsonDict:
        """One page of the namespace's pods, as `list_deployments` gives Deployments."""
        return self._raw(self.core.list_namespaced_pod, namespace, limit=limit, _continue=continue_)

    def watch_pods(
        self, namespace: str, resource_version: str, timeout_seconds: float
    ) -> Iterator[JsonDict]:
        """The namespace's pod events from `resource_version` on (`_watch`)."""
        return self._watch(
            self.core.list_namespaced_pod, namespace, resource_version, timeout_seconds
        )

    def _watch(
        self, list_call: Any, namespace: str, resource_version: str, timeout_seconds: float
    ) -> Iterator[JsonDict]:
        """A namespace's events of one kind from `resource_version` on, as the API sends them
        ({type, object}: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), until the server ends the
        watch after `timeout_seconds`; a read that stalls longer than that raises."""
        resp: Any = list_call(
            namespace,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=int(timeout_seconds),
            _preload_content=False,
            _request_timeout=(self.timeout, timeout_seconds + self.timeout),
        )
        try:
            for line in iter_resp_lines(resp):
                if line.strip():
                    yield json.loads(line)
        finally:
            resp.release_conn()

    def read_pod_log(self, namespace: str, pod: str, container: str) -> str:
        """The container's log (stdout and stderr), as text."""
        resp: Any = self.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            _preload_content=False,
            _request_timeout=self.timeout,
        )
        return bytes(resp.data).decode("utf-8", errors="replace")

    def get_config_map(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.core.read_namespaced_config_map, name, namespace)

    def create_config_map(self, namespace: str, body: JsonDict) -> bool:
        """Create a ConfigMap; False if one of that name exists already (409 is fine)."""
        return self._create(self.core.create_namespaced_config_map, namespace, body)

    def add_ephemeral_container(self, namespace: str, pod: str, container: JsonDict) -> JsonDict:
        return self._raw(
            self.core.patch_namespaced_pod_ephemeralcontainers,
            pod,
            namespace,
            {"spec": {"ephemeralContainers": [container]}},
            _content_type=STRATEGIC,
        )

    def resize_pod(self, namespace: str, pod: str, body: JsonDict) -> JsonDict:
        return self._raw(
            self.core.patch_namespaced_pod_resize, pod, namespace, body, _content_type=STRATEGIC
        )

    def exec(self, namespace: str, pod: str, container: str, command: list[str]) -> str:
        """Run a command in a (possibly ephemeral) container and return its output.

        The websocket client reports a refused exec (pod gone, container not running) as status
        0 with the HTTP status only in its reason; it is raised with that status, as elsewhere.
        """
        try:
            out: str = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=command,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _request_timeout=self.timeout,
            )
        except ApiException as exc:
            refused = re.match(r"Handshake status (\d{3})", str(exc.reason or ""))
            if exc.status == 0 and refused:
                raise ApiException(status=int(refused.group(1)), reason=exc.reason) from exc
            raise
        return out

    # ---------------------------------------------------------------------- autoscaling

    def get_hpa(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(
            self.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, namespace
        )

    def create_hpa(self, namespace: str, body: JsonDict) -> JsonDict:
        return self._raw(
            self.autoscaling.create_namespaced_horizontal_pod_autoscaler, namespace, body
        )

    def patch_hpa(self, namespace: str, name: str, body: JsonDict) -> JsonDict:
        return self._raw(
            self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            name,
            namespace,
            body,
            _content_type=MERGE,
        )

    def delete_hpa(self, namespace: str, name: str) -> bool:
        return self._delete(
            self.autoscaling.delete_namespaced_horizontal_pod_autoscaler, name, namespace
        )

    # --------------------------------------------------------------------------- leases

    def get_lease(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.coordination.read_namespaced_lease, name, namespace)

    def create_lease(self, namespace: str, body: JsonDict) -> bool:
        """Create a Lease; False if one of that name exists already (409: held)."""
        return self._create(self.coordination.create_namespaced_lease, namespace, body)

    def replace_lease(self, namespace: str, name: str, body: JsonDict) -> bool:
        """Replace the Lease as read (its metadata.resourceVersion); False if it changed
        meanwhile (409: another writer came first)."""
        try:
            self._raw(self.coordination.replace_namespaced_lease, name, namespace, body)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    def delete_lease(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the Lease only if it is still the object `uid` (another may have replaced it)."""
        try:
            self._raw(
                self.coordination.delete_namespaced_lease,
                name,
                namespace,
                body={"preconditions": {"uid": uid}},
            )
            return True
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise

    # ----------------------------------------------------------------------------- jobs

    def get_job(self, namespace: str, name: str) -> JsonDict | None:
        return self._get(self.batch.read_namespaced_job, name, namespace)

    def create_job(self, namespace: str, body: JsonDict) -> bool:
        """Create a Job; False if one of that name exists already (409 is fine)."""
        return self._create(self.batch.create_namespaced_job, namespace, body)

    def delete_job(self, namespace: str, name: str) -> bool:
        return self._delete(
            self.batch.delete_namespaced_job,
            name,
            namespace,
            body={"propagationPolicy": "Background"},
        )
