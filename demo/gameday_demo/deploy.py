"""Deploying Prometheus, the operator and both shapes; checking the cluster answers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable
from functools import partial

import yaml

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Kubectl
from gameday_demo.repo import Repo, repo_or_found
from gameday_demo.shapes import OPERATOR_NAMESPACE, OPERATOR_WATCH, SHAPES, Shape
from gameday_demo.waits import wait_for


def operator_manifests(kubectl: Kubectl, repo: Repo) -> str:
    """manifests/operator, rendered, with the operator watching the shop namespaces only."""
    rendered = kubectl.run("kustomize", str(repo.manifests("operator")), step="deploy").stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    for document in documents:
        if document.get("kind") != "Deployment":
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            env = [e for e in container.get("env", []) if e.get("name") != "GAMEDAY_NAMESPACE"]
            env.append({"name": "GAMEDAY_NAMESPACE", "value": OPERATOR_WATCH})
            container["env"] = env
    return yaml.safe_dump_all(documents, sort_keys=False)


STATUS_KEY_SECRET = "gameday-status-key"


def ensure_status_key(kubectl: Kubectl, step: str) -> None:
    """The Secret with the key that seals the operator's records (as `make deploy`): made
    once with a random key, kept on every later deploy (a new key would make the records of
    running scenarios unverifiable). Sent on stdin, so the key is on no command line."""
    namespace = OPERATOR_NAMESPACE
    if kubectl.maybe_json("-n", namespace, "get", "secret", STATUS_KEY_SECRET, step=step):
        return
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": STATUS_KEY_SECRET, "namespace": namespace},
        "stringData": {"key": secrets.token_hex(32)},
    }
    kubectl.run("create", "-f", "-", stdin=json.dumps(secret), step=step)


def deployments_available(kubectl: Kubectl, namespace: str) -> list[str]:
    """Deployments in `namespace` not yet Available with every replica updated."""
    items = kubectl.json("-n", namespace, "get", "deployments", step="deploy")["items"]
    waiting = []
    for d in items:
        spec_replicas = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        ok = (
            st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) >= spec_replicas
            and st.get("availableReplicas", 0) >= spec_replicas
            and st.get("replicas", 0) == spec_replicas
        )
        if not ok:
            waiting.append(d["metadata"]["name"])
    return waiting if items else ["(no Deployments yet)"]


def namespace_gone(kubectl: Kubectl, namespace: str) -> bool:
    return kubectl.maybe_json("get", "namespace", namespace, step="deploy") is None


def all_available(kubectl: Kubectl, namespace: str) -> bool:
    return not deployments_available(kubectl, namespace)


def deploy_shape(kubectl: Kubectl, shape: Shape, step: str, repo: Repo) -> None:
    """The shop's own deploy script (as `make deploy-<shape>`): its databases' Secrets first."""
    script = repo.manifests("deploy-shop.sh")
    env = {**os.environ, "KUBECTL": " ".join(kubectl.command_line())}
    try:
        done = subprocess.run(
            [str(script), shape.name], env=env, capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired as err:
        raise DemoError(step, f"{script.name} {shape.name} took over 240s") from err
    if done.returncode != 0:
        raise DemoError(step, f"{script.name} {shape.name} failed: {done.stderr.strip()[-600:]}")


def deploy(
    kubectl: Kubectl,
    say: Callable[[str], None],
    timeout: float = 480,
    repo: Repo | None = None,
) -> None:
    """Prometheus, the operator and both shapes, from `repo` (default: the checkout found from
    the current directory); idempotent; waits until all are Available."""
    step = "deploy"
    repo = repo_or_found(repo)
    kubectl.run("apply", "-k", str(repo.manifests("observability")), step=step)
    kubectl.run("apply", "-f", str(repo.manifests("operator", "namespace.yaml")), step=step)
    ensure_status_key(kubectl, step)
    kubectl.run("apply", "-f", "-", stdin=operator_manifests(kubectl, repo), step=step)
    kubectl.run("wait", "--for=condition=Established", "crd/failurescenarios.gameday.io", step=step)
    for shape in SHAPES:
        ns = kubectl.maybe_json("get", "namespace", shape.namespace, step=step)
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            say(f"waiting for the previous {shape.namespace} to be deleted")
            wait_for(
                partial(namespace_gone, kubectl, shape.namespace),
                300,
                step,
                f"namespace {shape.namespace} to be deleted",
            )
        deploy_shape(kubectl, shape, step, repo)
    for namespace in (OPERATOR_NAMESPACE, *(s.namespace for s in SHAPES)):
        try:
            wait_for(
                partial(all_available, kubectl, namespace),
                timeout,
                step,
                f"every Deployment in {namespace} to be Available",
            )
        except DemoError as err:
            err.why += f" (still waiting: {', '.join(deployments_available(kubectl, namespace))})"
            err.look_at = f"kubectl -n {namespace} get pods; kubectl -n {namespace} describe pods"
            raise
        say(f"{namespace}: every Deployment Available")


def check_cluster(kubectl: Kubectl) -> None:
    done = kubectl.run("get", "nodes", "-o", "json", check=False, step="cluster", timeout=20)
    if done.returncode != 0:
        raise DemoError(
            "cluster",
            f"the cluster does not answer: {done.stderr.strip()[-300:]}",
            "make cluster (or set KUBECONFIG to your cluster's kubeconfig)",
        )
    nodes = json.loads(done.stdout)["items"]
    ready = [
        n
        for n in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]
    if not ready:
        raise DemoError("cluster", "no node is Ready", "kubectl get nodes; kubectl describe nodes")
