"""Kubernetes label selectors (a LabelSelector: matchLabels and matchExpressions), as the API
server reads them. Pure: no client, no I/O.

`matches(selector, labels)`: whether an object with `labels` is selected. Every matchLabels
entry and every expression must hold: `In` the label is present with one of the values,
`NotIn` absent or none of them, `Exists` present, `DoesNotExist` absent. A selector with
neither matchLabels nor matchExpressions selects everything (so it cannot tell one
Deployment's pods from another's: the owner must).

`to_query(selector)`: the same selector as a label-selector string for a list call, e.g.
`app=web,tier in (a,b),!legacy` ("" for the empty selector), so the API server does the first
cut. The objects it returns still go through `matches`.

A selector the API server would reject raises `InvalidSelector`: an unknown operator, `In` or
`NotIn` without values, `Exists` or `DoesNotExist` with some, or a key or value outside the
label grammar (which is also what keeps the rendered string unambiguous). Length limits are
not checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# A label key: an optional DNS-subdomain prefix and "/", then a name; a value: empty or a name.
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"(?:{_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")

_WITH_VALUES = ("In", "NotIn")
_WITHOUT_VALUES = ("Exists", "DoesNotExist")

Requirement = tuple[str, str, tuple[str, ...]]  # (key, operator, values)


class InvalidSelector(ValueError):
    """A selector the API server would reject."""


def requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    """The selector as (key, operator, sorted values), matchLabels first as `In` one value."""
    out: list[Requirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        out.append((_key(key), "In", (_value(key, value),)))
    for expr in selector.get("matchExpressions") or []:
        key, op = _key(expr.get("key")), expr.get("operator")
        values = tuple(sorted({_value(key, v) for v in expr.get("values") or []}))
        if op in _WITH_VALUES and not values:
            raise InvalidSelector(f"{key} {op}: needs values")
        if op in _WITHOUT_VALUES and values:
            raise InvalidSelector(f"{key} {op}: takes no values")
        if op not in _WITH_VALUES + _WITHOUT_VALUES:
            raise InvalidSelector(f"{key}: unknown operator {op!r}")
        out.append((key, op, values))
    return out


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` are selected: every requirement holds (none: everything is)."""
    return all(_holds(r, labels) for r in requirements(selector))


def to_query(selector: Mapping[str, Any]) -> str:
    """The label-selector string the API server reads as the same selector."""
    return ",".join(_term(r) for r in requirements(selector))


def _holds(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    key, op, values = requirement
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    return (key in labels) == (op == "Exists")


def _term(requirement: Requirement) -> str:
    key, op, values = requirement
    if op == "Exists":
        return key
    if op == "DoesNotExist":
        return f"!{key}"
    if len(values) == 1:  # also the one way to write a set of just "": `k=`, `k!=`
        return f"{key}{'=' if op == 'In' else '!='}{values[0]}"
    return f"{key} {op.lower()} ({','.join(values)})"


def _key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidSelector(f"not a label key: {key!r}")
    return key


def _value(key: str, value: object) -> str:
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise InvalidSelector(f"{key}: not a label value: {value!r}")
    return value
