"""`shop audit` over the orders the customers were told about."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gameday_demo.customers import in_customers
from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.shapes import CUSTOMERS_POD, Shape


def secret_value(kubectl: Kubectl, namespace: str, name: str, key: str) -> str:
    import base64

    data = kubectl.json("-n", namespace, "get", "secret", name, step="audit").get("data") or {}
    if key not in data:
        raise DemoError("audit", f"Secret {namespace}/{name} has no key {key}")
    return base64.b64decode(data[key]).decode()


def direct_dsn(kubectl: Kubectl, namespace: str, dsn: str) -> str:
    """The DSN the apps use, past the latency proxy when there is one (`<host>-direct`)."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    direct = f"{host}-direct"
    if kubectl.maybe_json("-n", namespace, "get", "service", direct, step="audit") is None:
        return dsn
    netloc = parts.netloc.replace(f"@{host}", f"@{direct}", 1)
    if netloc == parts.netloc:
        netloc = netloc.replace(host, direct, 1)
    return urlunsplit(parts._replace(netloc=netloc))


def audit(kubectl: Kubectl, shape: Shape, pending_bound_seconds: float = 120) -> Json:
    """`shop audit` over the orders the customers were told about, in the customers pod."""
    dsns = [
        direct_dsn(kubectl, shape.namespace, secret_value(kubectl, shape.namespace, n, k))
        for n, k in shape.databases
    ]
    args = ["shop", "audit", "--accepted-log", "/tmp/accepted.jsonl", "--json"]
    args += ["--pending-bound-seconds", f"{pending_bound_seconds:g}"]
    for dsn in dsns:
        args += ["--database-url", dsn]
    done = in_customers(kubectl, shape, *args, check=False, timeout=300)
    if done.returncode not in (0, 1):
        raise DemoError(
            "audit",
            f"shop audit failed on {shape.namespace}: {done.stderr.strip()[-400:]}",
            f"kubectl -n {shape.namespace} logs {CUSTOMERS_POD}",
        )
    result = json.loads(done.stdout)
    if not isinstance(result, dict):
        raise DemoError("audit", "shop audit printed no JSON object")
    return result


def audit_clean(result: Mapping[str, Any]) -> bool:
    return not (result.get("lost") or result.get("duplicates") or result.get("wrong_status"))
