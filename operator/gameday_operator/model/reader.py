"""Typed, path-aware reading of a raw spec mapping: the parsers' primitive. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlparse

from gameday_operator.model.spec import Destination, ServiceRef
from gameday_operator.units import parse_duration, parse_quantity

E = TypeVar("E", bound="StrEnum")

# What may follow a Service's port in a URL the operator builds: a path (and query) of
# RFC 3986 characters, as the CRD's pattern has it.
_HTTP_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
# A `.` or `..` segment, also percent-encoded: the CRD's rule refuses the same.
_DOT_SEGMENT = re.compile(r"(^|/)([.]|%2[eE]){1,2}(/|[?]|$)")


class SpecError(ValueError):
    """The scenario cannot run as written; the message says which field and why."""


class Reader:
    """Typed access to one raw mapping, with the field path kept for error messages."""

    def __init__(self, raw: object, path: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SpecError(f"{path} must be an object")
        self.raw: Mapping[str, Any] = raw
        self.path = path

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def sub(self, key: str) -> Reader:
        return Reader(self.raw.get(key), f"{self.path}.{key}")

    def str_(self, key: str, default: str | None = None, *, max_len: int = 2048) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        if not isinstance(value, str) or not value:
            raise SpecError(f"{self.path}.{key} must be a non-empty string")
        if len(value) > max_len:
            raise SpecError(f"{self.path}.{key} is longer than {max_len} characters")
        return value

    def opt_str(self, key: str) -> str | None:
        return self.str_(key) if self.has(key) else None

    def int_(self, key: str, default: int | None, lo: int, hi: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.path}.{key} must be an integer")
        if not lo <= value <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo} and {hi}, got {value}")
        return value

    def num(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{self.path}.{key} must be a number")
        if not lo <= float(value) <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo:g} and {hi:g}, got {value}")
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.path}.{key} must be true or false")
        return value

    def enum(self, key: str, kind: type[E], default: E | None = None) -> E:
        return kind(self.one_of(key, [m.value for m in kind], default))

    def one_of(self, key: str, allowed: Sequence[str], default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise SpecError(f"{self.path}.{key} is required")
        if value not in allowed:
            listed = ", ".join(allowed)
            raise SpecError(f"{self.path}.{key} must be one of {listed}, got {value!r}")
        return str(value)

    def mapping(self, key: str) -> dict[str, Any]:
        """An object, as it stands (a manifest, a patch, resources): required."""
        value = self.raw.get(key)
        if not isinstance(value, Mapping):
            raise SpecError(f"{self.path}.{key} must be an object")
        return dict(value)

    def opt_mapping(self, key: str) -> dict[str, Any] | None:
        return self.mapping(key) if self.has(key) else None

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings; absent is none."""
        value = self.raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(f"{self.path}.{key} must be a list of strings")
        return tuple(value)

    def duration(self, key: str, default: str, lo: float, hi: float) -> float:
        text = self.raw.get(key, default)
        if not isinstance(text, str):
            raise SpecError(f"{self.path}.{key} must be a duration such as 30s or 5m")
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise SpecError(
                f"{self.path}.{key} must be a duration such as 30s or 5m, got {text!r}"
            ) from None
        if not lo <= seconds <= hi:
            raise SpecError(f"{self.path}.{key} must be between {lo:g}s and {hi:g}s, got {text}")
        return seconds

    def quantity(self, key: str, default: str) -> Decimal:
        text = self.raw.get(key, default)
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise SpecError(f"{self.path}.{key} must be a quantity")
        try:
            value = parse_quantity(text)
        except ValueError:
            raise SpecError(f"{self.path}.{key} must be a quantity, got {text!r}") from None
        if value <= 0:
            raise SpecError(f"{self.path}.{key} must be a positive quantity, got {text!r}")
        return value

    def url(self, key: str) -> str:
        """An http(s) URL with a host (and, if given, a valid port), as the CRD's rule has it."""
        value = self.str_(key)
        parsed = urlparse(value)
        try:
            port = parsed.port
        except ValueError:  # not a number, or out of 0-65535
            port = -1
        if not value.startswith(("http://", "https://")) or not parsed.hostname or port == -1:
            raise SpecError(
                f"{self.path}.{key} must be an http or https URL with a host, got {value!r}"
            )
        return value

    def service_ref(self, key: str, *, with_path: bool) -> ServiceRef:
        """{service, port} (and, `with_path`, path: default /) naming a Service of the
        scenario's namespace, as the CRD's schema has it."""
        ref = self.sub(key)
        service = dns_1035_label(ref.str_("service", max_len=63), f"{ref.path}.service")
        port = ref.int_("port", None, 1, 65535)
        if not with_path:
            return ServiceRef(service, port)
        path = ref.str_("path", "/")
        if not _HTTP_PATH.fullmatch(path):
            raise SpecError(
                f"{ref.path}.path must start with / and hold only URL path characters, got {path!r}"
            )
        if _DOT_SEGMENT.search(path):
            raise SpecError(f"{ref.path}.path must not hold . or .. segments, got {path!r}")
        return ServiceRef(service, port, path)

    def service_or_url(
        self, service_key: str, url_key: str, *, with_path: bool, qualifier: str = ""
    ) -> Destination:
        """Exactly one of a Service reference (`service_key`) and a free URL (`url_key`, which
        only the operator's allow-list may allow: `confinement` checks it)."""
        if self.has(service_key) == self.has(url_key):
            raise SpecError(
                f"{self.path}{qualifier} takes exactly one of {service_key} (a Service of the "
                f"scenario's namespace) and {url_key} (a URL under the operator's "
                "GAMEDAY_ALLOWED_URLS)"
            )
        if self.has(service_key):
            return self.service_ref(service_key, with_path=with_path)
        return self.url(url_key)

    def not_applicable(self, key: str, applies: str) -> None:
        """SpecError when `key` is set: it does not apply here; `applies` says where it does."""
        if self.has(key):
            raise SpecError(f"{self.path}.{key} applies only to {applies}")


def dns_label(value: str, path: str) -> str:
    if len(value) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value):
        raise SpecError(
            f"{path} must be a DNS label (lowercase letters, digits, '-'), got {value!r}"
        )
    return value


def dns_1035_label(value: str, path: str) -> str:
    """A Service's name: a DNS label that starts with a letter."""
    if len(value) > 63 or not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", value):
        raise SpecError(
            f"{path} must be a DNS-1035 label (lowercase letters, digits, '-', starting with a "
            f"letter), got {value!r}"
        )
    return value


def identifier(value: str, path: str) -> str:
    if len(value) > 63 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise SpecError(f"{path} must be a plain SQL identifier, got {value!r}")
    return value
