"""One line that says why a call failed, for conditions, action errors and Events.

The Kubernetes client's ApiException prints as its whole HTTP exchange: status, reason,
response headers (audit id, priority-and-fairness ids, date) and the raw body. What a user needs
is in the body, a `Status` object: its `code`, `reason` and `message` (which the API server
already writes as one sentence, e.g. `Job.batch "x" is invalid: metadata.labels: ...`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubernetes.client.exceptions import ApiException

MAX_CHARS = 500
_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = MAX_CHARS) -> str:
    """`text` with every run of whitespace (newlines included) made one space, and cut to
    `limit` characters (ending in `…` when cut)."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _text(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _status(text: str) -> dict[str, Any] | None:
    """The body as a JSON object (a `Status`), or None if it is not one."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _api(exc: ApiException) -> str:
    text = _text(exc.body).strip()
    status = _status(text) if text else None
    code = exc.status
    reason = str(exc.reason or "").strip()
    message = ""
    if status is not None:
        code = status.get("code") or code
        reason = str(status.get("reason") or reason).strip()
        message = str(status.get("message") or "").strip()
    elif not text.startswith("<"):  # a proxy's HTML error page says nothing useful
        message = text
    # Status 0 is the client's own failure (TLS, a refused connection): its reason says what.
    head = f"HTTP {code} {reason}".strip() if code else (reason or "API request failed")
    return f"{head}: {message}" if message and message != reason else head


# How the API server's PodSecurity admission says it refused a pod or an ephemeral container:
# `pods "web-1" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities
# (container "x" must not include "NET_ADMIN" in securityContext.capabilities.add)`.
_POD_SECURITY = re.compile(r'violates PodSecurity "([a-z]+)(?::[^"]*)?"')


def pod_security_level(exc: BaseException) -> str | None:
    """The Pod Security level (`baseline`, `restricted`) that refused the call, or None when
    Pod Security was not what refused it."""
    if not isinstance(exc, ApiException) or exc.status not in (400, 403, 422):
        return None
    found = _POD_SECURITY.search(_api(exc))
    return found.group(1) if found else None


def describe(exc: BaseException, limit: int = MAX_CHARS) -> str:
    """Why `exc` happened, on one line of at most `limit` characters: for an ApiException
    `HTTP <code> <reason>: <the Status message>`, for anything else its text (or, if it has
    none, its type's name)."""
    if isinstance(exc, ApiException):
        return one_line(_api(exc), limit)
    return one_line(str(exc).strip() or type(exc).__name__, limit)
