"""Label selectors as the API server reads them: what `matches` selects, what `to_query`
renders, and that the rendered string selects exactly what the selector does."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gameday_operator.selectors import InvalidSelector, matches, requirements, to_query
from tests.unit.fake_kube import selected_by

ABSENT = None
# The label `k` on the object: absent, empty, or one of two values.
STATES: list[str | None] = [ABSENT, "", "x", "y"]


def labels_with(k: str | None, **others: str) -> dict[str, str]:
    return {**others, **({} if k is None else {"k": k})}


def expr(op: str, *values: str, key: str = "k") -> dict[str, Any]:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


# For each expression on `k`: whether it selects k absent, "", "x", "y" (in STATES order).
TRUTH = [
    (expr("In", "x"), [False, False, True, False]),
    (expr("In", "x", "y"), [False, False, True, True]),
    (expr("In", ""), [False, True, False, False]),
    (expr("In", "", "y"), [False, True, False, True]),
    (expr("NotIn", "x"), [True, True, False, True]),
    (expr("NotIn", "x", "y"), [True, True, False, False]),
    (expr("NotIn", ""), [True, False, True, True]),
    (expr("Exists"), [False, True, True, True]),
    (expr("DoesNotExist"), [True, False, False, False]),
    ({"key": "k", "operator": "Exists", "values": []}, [False, True, True, True]),
]


@pytest.mark.parametrize(("expression", "expected"), TRUTH, ids=lambda v: str(v))
def test_each_operator_selects_as_the_api_server_does(
    expression: dict[str, Any], expected: list[bool]
) -> None:
    selector = {"matchExpressions": [expression]}
    assert [matches(selector, labels_with(k, other="z")) for k in STATES] == expected


@pytest.mark.parametrize("value", ["x", ""])
def test_match_labels_select_that_value_only(value: str) -> None:
    selector = {"matchLabels": {"k": value}}
    assert [matches(selector, labels_with(k)) for k in STATES] == [s == value for s in STATES]


@pytest.mark.parametrize(
    "selector",
    [{}, {"matchLabels": {}}, {"matchExpressions": []}, {"matchLabels": None}],
    ids=["empty", "no-labels", "no-expressions", "null-labels"],
)
def test_a_selector_with_neither_selects_everything(selector: dict[str, Any]) -> None:
    assert all(matches(selector, labels_with(k)) for k in STATES)
    assert to_query(selector) == ""


def test_every_requirement_must_hold() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [expr("In", "a", "b", key="tier"), expr("DoesNotExist", key="legacy")],
    }
    assert matches(selector, {"app": "web", "tier": "a"})
    assert matches(selector, {"app": "web", "tier": "b", "other": "1"})
    assert not matches(selector, {"app": "db", "tier": "a"})
    assert not matches(selector, {"app": "web", "tier": "c"})
    assert not matches(selector, {"app": "web"})
    assert not matches(selector, {"app": "web", "tier": "a", "legacy": ""})


def test_contradicting_requirements_select_nothing() -> None:
    selector = {"matchLabels": {"k": "x"}, "matchExpressions": [expr("NotIn", "x")]}
    assert not any(matches(selector, labels_with(k)) for k in STATES)


@pytest.mark.parametrize(
    ("selector", "query"),
    [
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    expr("In", "b", "a", key="tier"),
                    expr("DoesNotExist", key="legacy"),
                ],
            },
            "app=web,tier in (a,b),!legacy",
        ),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        ({"matchExpressions": [expr("Exists", key="gameday.io/x")]}, "gameday.io/x"),
        ({"matchExpressions": [expr("NotIn", "y", "x")]}, "k notin (x,y)"),
        ({"matchExpressions": [expr("In", "x")]}, "k=x"),
        ({"matchExpressions": [expr("NotIn", "x")]}, "k!=x"),
        ({"matchExpressions": [expr("In", "x", "x")]}, "k=x"),
        ({"matchLabels": {"k": ""}}, "k="),
        ({"matchExpressions": [expr("NotIn", "")]}, "k!="),
        ({"matchExpressions": [expr("In", "x", "")]}, "k in (,x)"),
    ],
)
def test_the_query_string(selector: dict[str, Any], query: str) -> None:
    assert to_query(selector) == query


# Every expression on `k` with values drawn from "", "x", "y", alone, with matchLabels on `k`
# or on `j`, or beside a second expression on `j`.
VALUE_SETS = [list(c) for n in (1, 2, 3) for c in itertools.combinations(["", "x", "y"], n)]
EXPRESSIONS = [expr(op, *vs) for op in ("In", "NotIn") for vs in VALUE_SETS] + [
    expr("Exists"),
    expr("DoesNotExist"),
]
SELECTORS: list[dict[str, Any]] = [
    *({"matchExpressions": [e]} for e in EXPRESSIONS),
    *({"matchLabels": {"k": v}, "matchExpressions": [e]} for v in ("", "x") for e in EXPRESSIONS),
    *(
        {"matchLabels": {"j": "x"}, "matchExpressions": [e, expr("NotIn", "y", key="j")]}
        for e in EXPRESSIONS
    ),
]
LABEL_SETS: list[dict[str, str]] = [
    {**labels_with(k), **({} if j is None else {"j": j})}
    for k, j in itertools.product(STATES, STATES)
]


def test_the_query_selects_exactly_what_the_selector_does() -> None:
    """Every selector on every label set, the string read by the fake's (the API's) grammar."""
    checked = 0
    for selector in SELECTORS:
        query = to_query(selector)
        for labels in LABEL_SETS:
            assert selected_by(query, labels) == matches(selector, labels), (query, labels)
            checked += 1
    assert checked == len(SELECTORS) * 16 > 500


@pytest.mark.parametrize(
    ("selector", "why"),
    [
        ({"matchExpressions": [expr("Gt", "1")]}, "unknown operator 'Gt'"),
        ({"matchExpressions": [{"key": "k"}]}, "unknown operator None"),
        ({"matchExpressions": [expr("in", "x")]}, "unknown operator 'in'"),
        ({"matchExpressions": [expr("In")]}, "needs values"),
        ({"matchExpressions": [{"key": "k", "operator": "NotIn", "values": []}]}, "needs values"),
        ({"matchExpressions": [expr("Exists", "x")]}, "takes no values"),
        ({"matchExpressions": [expr("DoesNotExist", "x")]}, "takes no values"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "not a label key: None"),
        ({"matchLabels": {"a,b": "x"}}, "not a label key"),
        ({"matchLabels": {"k": "x,y"}}, "not a label value"),
        ({"matchLabels": {"k": "(x)"}}, "not a label value"),
        ({"matchLabels": {"k": 1}}, "not a label value: 1"),
        ({"matchLabels": {"Upper.Case/k": "x"}}, "not a label key"),
        ({"matchLabels": {"-k": "x"}}, "not a label key"),
        ({"matchExpressions": [expr("In", "x ", key="k")]}, "not a label value"),
    ],
)
def test_a_selector_the_api_server_would_reject_is_refused(
    selector: dict[str, Any], why: str
) -> None:
    for call in (lambda: matches(selector, {}), lambda: to_query(selector)):
        with pytest.raises(InvalidSelector, match=why.replace("(", r"\(")):
            call()


def test_prefixed_keys_and_dotted_values_are_label_grammar() -> None:
    selector = {"matchLabels": {"app.kubernetes.io/name": "web-1.2_a"}}
    assert requirements(selector) == [("app.kubernetes.io/name", "In", ("web-1.2_a",))]
    assert matches(selector, {"app.kubernetes.io/name": "web-1.2_a"})
