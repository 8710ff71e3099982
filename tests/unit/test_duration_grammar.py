"""One duration grammar: the CRD's admission pattern, the operator and the injector agree.

The grammar (docs/reference.md): "0", or one or more unsigned decimal numbers each followed by a
unit among ms, s, m and h; no sign, no space, no exponent, lower-case units. It is Go's
time.ParseDuration (what the CRD's CEL `duration()` and Chaos Mesh take) narrowed, so every string
admitted by the pattern also passes the CEL rules' `duration(self)`.

The injector (gameday_chaos) may not import the operator and keeps its own copy of the parser;
this table is what holds the copies together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_chaos import units as chaos_units
from gameday_operator import units as operator_units

CRD = Path(__file__).resolve().parents[2] / "crds" / "failurescenario.yaml"

ACCEPTED: list[tuple[str, float]] = [
    ("0", 0.0),
    ("0s", 0.0),
    ("0ms", 0.0),
    ("1.5s", 1.5),
    ("1h30m", 5400.0),
    ("1m30s", 90.0),
    ("200ms", 0.2),
    ("30s", 30.0),
    ("5m", 300.0),
    ("24h", 86400.0),
    ("1h0m0.5s", 3600.5),
    ("0.25h", 900.0),
    ("30s1m", 90.0),
]

REFUSED: list[str] = [
    "",
    "90",  # a number needs its unit
    "0.0",
    "00",
    "1d",  # not a Go unit
    "500us",  # below a millisecond: not in the grammar
    "1ns",
    "5µs",
    "-1s",
    "+5s",
    " 5s",
    "5s ",
    "5s\n",
    "1 s",
    "1m 30s",
    "5S",
    "5M",
    "1e3s",
    ".5s",
    "5.s",
    "1h30",
    "ms",
    "s5",
    "5sec",
    "1_0s",
    "\u0665s",  # ARABIC-INDIC DIGIT FIVE: Python's \d would take it
    "inf",
    "nan",
]

# The syntax of Go's time.ParseDuration, written out: what the CRD's CEL `duration()` accepts.
GO_DURATION = re.compile(r"[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)")

PARSERS: dict[str, Callable[[str], float]] = {
    "operator": operator_units.parse_duration,
    "injector": chaos_units.parse_duration,
}


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")


def _duration_fields() -> dict[str, str | None]:
    """Every CRD field a CEL rule reads as a duration (its own `duration(self)`, or its
    object's `duration(self.<field>)`) → its `pattern` (None if none)."""
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nodes = dict(_walk(schema, ""))
    read: set[str] = set()
    for path, node in nodes.items():
        for rule in node.get("x-kubernetes-validations") or []:
            if "duration(self)" in rule["rule"]:
                read.add(path)
            read.update(
                f"{path}.{name}"
                for name in re.findall(r"duration\(self\.([A-Za-z]+)\)", rule["rule"])
                if f"{path}.{name}" in nodes
            )
    return {path: nodes[path].get("pattern") for path in read}


def _crd_admits(pattern: str, text: str) -> bool:
    """The apiserver's check of `pattern` (Go regexp, unanchored search) on a string.

    The pattern is anchored at both ends and Go's `^`/`$` (no m flag) are the ends of the text,
    so this is a full match of what lies between them (Python's `$` would also match before a
    trailing newline).
    """
    assert pattern.startswith("^") and pattern.endswith("$"), pattern
    inner = pattern[1:-1]
    assert "^" not in inner and "$" not in inner, pattern
    return re.fullmatch(inner, text) is not None


def test_every_duration_field_of_the_crd_has_the_pattern() -> None:
    fields = _duration_fields()
    assert sorted(fields) == [
        ".spec.duration",
        ".spec.faults[].networkLatency.jitter",
        ".spec.faults[].networkLatency.latency",
        ".spec.remediation.after",
        ".spec.remediation.responseDelay",
        ".spec.steadyState.window",
    ]
    missing = [path for path, pattern in fields.items() if pattern is None]
    assert not missing, f"duration fields without the admission pattern: {missing}"


@pytest.mark.parametrize(("text", "seconds"), ACCEPTED, ids=repr)
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_parsers_accept(parser: str, text: str, seconds: float) -> None:
    assert PARSERS[parser](text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", REFUSED, ids=repr)
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_parsers_refuse(parser: str, text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        PARSERS[parser](text)


@pytest.mark.parametrize(("text", "seconds"), ACCEPTED, ids=repr)
def test_crd_admits(text: str, seconds: float) -> None:
    for path, pattern in _duration_fields().items():
        assert pattern is not None and _crd_admits(pattern, text), path
    assert GO_DURATION.fullmatch(text), "the CEL rules' duration() would refuse it"


@pytest.mark.parametrize("text", REFUSED, ids=repr)
def test_crd_refuses(text: str) -> None:
    for path, pattern in _duration_fields().items():
        assert pattern is not None and not _crd_admits(pattern, text), path
