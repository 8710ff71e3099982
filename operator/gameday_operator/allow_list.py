"""The operator's allow-list of URL prefixes (GAMEDAY_ALLOWED_URLS), and whether a URL falls
under one of them. Pure.

A URL falls under a prefix when its scheme, host and port are the prefix's, exactly, and its
path is the prefix's or below it, compared segment by segment. What the comparison cannot
vouch for falls under no prefix, whatever the list says:

- a dot-segment (`.` or `..`, also percent-encoded as `%2e`): HTTP clients remove them before
  sending (httpx does), so `/orders/../-/quit` under the prefix `/orders` reaches `/-/quit`;
- an encoded slash or backslash (`%2f`, `%5c`) in a segment: servers that decode it see other
  segments than the ones compared;
- user information (`user@`), a backslash, whitespace or a control character anywhere: URL
  parsers disagree on where such a URL's host ends.

Nothing a scenario needs is written that way, so such a URL is refused rather than resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_SCHEMES = ("http", "https")
_DOT_SEGMENTS = (".", "..")
# Percent-decoding is repeated up to this many times: a server that decodes twice sees in
# `%252e%252e` the `..` that one decoding hides.
_DECODINGS = 3


@dataclass(frozen=True)
class Place:
    """What the allow-list compares of a URL: its scheme, exact host, port and path segments."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]  # each percent-decoded once; a trailing "/" gives a last ""


def place(url: str) -> Place | None:
    """The place `url` names, or None when it cannot be compared safely (see the module)."""
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is no number, or out of 0-65535
        return None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    segments: list[str] = []
    for raw in parts.path.split("/")[1:]:
        segment = _segment(raw)
        if segment is None:
            return None
        segments.append(segment)
    default = 443 if scheme == "https" else 80
    return Place(scheme, parts.hostname, default if port is None else port, tuple(segments))


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot be an allow-list entry, or None when it can."""
    if place(prefix) is None:
        return (
            "must be an http(s) URL with a host, and without user information, dot-segments "
            "(. or ..) or encoded slashes"
        )
    parts = urlsplit(prefix)
    if parts.query or parts.fragment:
        return "must not have a query or a fragment: it is a prefix of paths"
    return None


def allowed_by(url: str, prefixes: Sequence[str]) -> str | None:
    """The allow-list prefix `url` falls under (same scheme, host and port; path at or below the
    prefix's), if any."""
    at = place(url)
    if at is None:
        return None
    for prefix in prefixes:
        base = place(prefix)
        if base is None or (at.scheme, at.host, at.port) != (base.scheme, base.host, base.port):
            continue
        under = _without_trailing_empty(base.segments)
        if at.segments[: len(under)] == under:
            return prefix
    return None


def _segment(raw: str) -> str | None:
    """`raw` percent-decoded once, or None when it is, or decodes to, a dot-segment or holds an
    encoded slash or backslash."""
    seen = raw
    for _ in range(_DECODINGS):
        seen = unquote(seen)
        if seen in _DOT_SEGMENTS or "/" in seen or "\\" in seen:
            return None
    return unquote(raw)


def _without_trailing_empty(segments: tuple[str, ...]) -> tuple[str, ...]:
    # `http://h/orders/` and `http://h/orders` are the same prefix: what is at or below /orders.
    end = len(segments)
    while end and not segments[end - 1]:
        end -= 1
    return segments[:end]
