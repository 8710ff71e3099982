"""api_errors.describe: an API error as its one-line reason, never the client's HTTP dump.

The exceptions are built as the Kubernetes client builds them: a urllib3 response wrapped in
the client's RESTResponse, read, and passed to `ApiException.from_response` (what the API
methods do for a non-2xx answer), or to `ApiException(http_resp=...)` itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException, UnprocessableEntityException
from kubernetes.client.rest import RESTResponse

from gameday_operator.api_errors import MAX_CHARS, describe, one_line, pod_security_level

HEADERS = {
    "Audit-Id": "5e0c3a8e-8f0e-4a54-a7b0-3d1b2c9f7a11",
    "Cache-Control": "no-cache, private",
    "Content-Type": "application/json",
    "X-Kubernetes-Pf-Flowschema-Uid": "0c1f4a52-6a3b-4f39-b2b8-2b3f0a9d5c10",
    "X-Kubernetes-Pf-Prioritylevel-Uid": "a8d7a1d2-1c3e-4f7e-9e5b-6f0c2d1b3a44",
    "Date": "Mon, 01 Jun 2025 12:00:00 GMT",
}
LONG = "gd-" + "a" * 70
INVALID_LABEL = (
    f'Job.batch "{LONG}" is invalid: [metadata.labels: Invalid value: "{"a" * 70}": must be '
    "no more than 63 characters, spec.template.labels: Invalid value: "
    f'"{"a" * 70}": must be no more than 63 characters]'
)


def status_body(code: int, reason: str, message: str, **extra: Any) -> bytes:
    """A `Status` as the API server sends it."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
        **extra,
    }
    return json.dumps(body).encode()


def response(status: int, phrase: str, body: bytes, headers: dict[str, str]) -> RESTResponse:
    raw = urllib3.HTTPResponse(
        body=body, headers=headers, status=status, reason=phrase, preload_content=True
    )
    resp = RESTResponse(raw)
    resp.read()  # type: ignore[no-untyped-call]  # kubernetes' RESTResponse.read is unannotated
    return resp


def client_error(
    status: int, phrase: str, body: bytes, headers: dict[str, str] | None = None
) -> ApiException:
    """The exception the client raises for this answer (a subclass for 400, 404, 409, 422...)."""
    try:
        ApiException.from_response(
            http_resp=response(status, phrase, body, headers or HEADERS), body=None, data=None
        )
    except ApiException as exc:
        return exc
    raise AssertionError("from_response always raises")


def job_invalid() -> ApiException:
    details = {
        "name": LONG,
        "group": "batch",
        "kind": "Job",
        "causes": [{"reason": "FieldValueInvalid", "field": "metadata.labels"}],
    }
    body = status_body(422, "Invalid", INVALID_LABEL, details=details)
    return client_error(422, "Unprocessable Entity", body)


def test_a_422_is_its_status_message_on_one_line_without_the_headers() -> None:
    exc = job_invalid()
    assert isinstance(exc, UnprocessableEntityException)
    raw = str(exc)
    assert "HTTP response headers" in raw and "Audit-Id" in raw and "\n" in raw  # the dump
    text = describe(exc)
    assert text == f"HTTP 422 Invalid: {INVALID_LABEL}"
    assert "\n" not in text and "Audit-Id" not in text and "HTTP response" not in text


def test_built_with_http_resp_directly_it_reads_the_same() -> None:
    body = status_body(422, "Invalid", INVALID_LABEL)
    exc = ApiException(http_resp=response(422, "Unprocessable Entity", body, HEADERS))
    assert exc.status == 422 and exc.headers is not None  # what __init__ took from http_resp
    assert describe(exc) == f"HTTP 422 Invalid: {INVALID_LABEL}"


@pytest.mark.parametrize(
    ("status", "phrase", "body", "expected"),
    [
        pytest.param(
            409,
            "Conflict",
            status_body(409, "AlreadyExists", 'jobs.batch "gd-x-load" already exists'),
            'HTTP 409 AlreadyExists: jobs.batch "gd-x-load" already exists',
            id="409",
        ),
        pytest.param(
            403,
            "Forbidden",
            status_body(
                403,
                "Forbidden",
                'jobs.batch is forbidden: User "system:serviceaccount:gameday:operator" '
                'cannot create resource "jobs" in API group "batch" in the namespace "shop"',
            ),
            'HTTP 403 Forbidden: jobs.batch is forbidden: User "system:serviceaccount:gameday:'
            'operator" cannot create resource "jobs" in API group "batch" in the namespace "shop"',
            id="403",
        ),
        pytest.param(
            500,
            "Internal Server Error",
            status_body(500, "", "Internal error occurred: admission webhook\n  denied it"),
            "HTTP 500 Internal Server Error: Internal error occurred: admission webhook denied it",
            id="no-status-reason-and-a-multi-line-message",
        ),
        pytest.param(
            404,
            "Not Found",
            b"404 page not found\n",
            "HTTP 404 Not Found: 404 page not found",
            id="plain-text-body",
        ),
        pytest.param(
            502,
            "Bad Gateway",
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>",
            "HTTP 502 Bad Gateway",
            id="html-body",
        ),
        pytest.param(
            503, "Service Unavailable", b"", "HTTP 503 Service Unavailable", id="empty-body"
        ),
        pytest.param(
            400,
            "Bad Request",
            b'["not", "a", "Status"]',
            'HTTP 400 Bad Request: ["not", "a", "Status"]',
            id="json-but-not-an-object",
        ),
    ],
)
def test_the_client_errors_read_as_one_line(
    status: int, phrase: str, body: bytes, expected: str
) -> None:
    text = describe(client_error(status, phrase, body))
    assert text == expected
    assert "\n" not in text and "Audit-Id" not in text


def test_a_non_json_body_with_the_headers_is_still_one_line() -> None:
    body = b"upstream connect error or disconnect/reset before headers.\nreset reason: overflow"
    text = describe(client_error(503, "Service Unavailable", body, {"Content-Type": "text/plain"}))
    assert text == (
        "HTTP 503 Service Unavailable: upstream connect error or disconnect/reset before "
        "headers. reset reason: overflow"
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # What the adapter's exec raises when the upgrade is refused: status and reason only.
        (
            ApiException(status=400, reason="Handshake status 400 Bad Request -+-+- no sh"),
            "HTTP 400 Handshake status 400 Bad Request -+-+- no sh",
        ),
        # The client's own failure (TLS, a refused connection) has status 0.
        (
            ApiException(status=0, reason="SSLError(certificate verify failed)"),
            "SSLError(certificate verify failed)",
        ),
        (ApiException(status=0), "API request failed"),
        (ApiException(status=404, reason="Not Found"), "HTTP 404 Not Found"),
        (ApiException(status=422, body="not json at all"), "HTTP 422: not json at all"),
    ],
)
def test_api_exceptions_built_without_a_response(exc: ApiException, expected: str) -> None:
    assert describe(exc) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError("exec timed out"), "exec timed out"),
        (ValueError("first line\n  second line\n"), "first line second line"),
        (RuntimeError(), "RuntimeError"),
        (KeyError("manifest"), "'manifest'"),
    ],
)
def test_other_exceptions_are_their_text_on_one_line(exc: BaseException, expected: str) -> None:
    assert describe(exc) == expected


def test_the_text_is_bounded() -> None:
    huge = status_body(422, "Invalid", "x" * 5000)
    text = describe(client_error(422, "Unprocessable Entity", huge))
    assert len(text) == MAX_CHARS and text.startswith("HTTP 422 Invalid: xxx")
    assert text.endswith("…")
    assert len(describe(ValueError("y" * 5000))) == MAX_CHARS
    assert describe(ValueError("y" * 50), limit=20) == "y" * 19 + "…"
    assert one_line("short") == "short" and one_line(" a \t b\r\n") == "a b"


# PodSecurity admission refusing an ephemeral container, as the API server words it.
POD_SECURITY = (
    'pods "web-1" is forbidden: violates PodSecurity "{level}:latest": non-default '
    'capabilities (container "gameday-1a2b3c4d5e-f0" must not include "NET_ADMIN" in '
    "securityContext.capabilities.add)"
)


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_a_pod_security_refusal_says_its_level(level: str) -> None:
    message = POD_SECURITY.format(level=level)
    exc = client_error(403, "Forbidden", status_body(403, "Forbidden", message))
    assert pod_security_level(exc) == level
    assert describe(exc) == f"HTTP 403 Forbidden: {message}"


@pytest.mark.parametrize(
    "exc",
    [
        job_invalid(),
        client_error(403, "Forbidden", status_body(403, "Forbidden", "RBAC: access denied")),
        client_error(
            500, "Internal", status_body(500, "InternalError", 'violates PodSecurity "x"')
        ),
        ValueError('violates PodSecurity "baseline:latest"'),
    ],
    ids=["invalid", "rbac", "server-error", "not-an-api-error"],
)
def test_any_other_refusal_is_not_pod_securitys(exc: BaseException) -> None:
    assert pod_security_level(exc) is None
