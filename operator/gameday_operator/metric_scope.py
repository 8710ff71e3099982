"""Which series a scenario's queries may read: those of its own namespace.

The operator's Prometheus holds every namespace's metrics, and a scenario's queries are its
author's PromQL: unchecked, a scenario in one namespace could read another's figures into its
own status. So every query the operator sends carries the matcher `namespace="<the scenario's
namespace>"` in each of its selectors: the built-in queries and `$selector` get it from
`scoped_selector`, and a query that still has a selector without it (one written by hand, or
an `or` group of matchers without it) is refused before anything is injected. Pure.
"""

from __future__ import annotations

import promql_parser as pq

NAMESPACE_LABEL = "namespace"


def namespace_matcher(namespace: str) -> str:
    # A namespace name is a DNS label: nothing in it needs escaping in a PromQL string.
    return f'{NAMESPACE_LABEL}="{namespace}"'


def scoped_selector(namespace: str, selector: str) -> str:
    """The matchers every query of a scenario in `namespace` carries: the namespace's, then
    the scenario's own `steadyState.prometheus.selector`."""
    own = selector.strip().strip(",")
    return ",".join(m for m in (namespace_matcher(namespace), own) if m)


def unscoped_selectors(query: str, namespace: str) -> list[str]:
    """The selectors of `query` that may read series outside `namespace`, as PromQL; a query
    that does not parse raises ValueError with the parser's words."""
    try:
        expr = pq.parse(query)
    except Exception as exc:  # the parser raises its own ValueError subclass, or a panic
        raise ValueError(f"is not PromQL: {exc}") from exc
    return [str(s).removesuffix("{}") for s in _selectors(expr) if not _scoped(s, namespace)]


def _scoped(selector: pq.VectorSelector, namespace: str) -> bool:
    groups = selector.matchers.or_matchers or [selector.matchers.matchers]
    return all(
        any(
            m.name == NAMESPACE_LABEL and m.op == pq.MatchOp.Equal and m.value == namespace
            for m in group
        )
        for group in groups
    )


def _selectors(expr: object) -> list[pq.VectorSelector]:
    """Every vector selector in the expression, those inside range selectors included."""
    if isinstance(expr, pq.VectorSelector):
        return [expr]
    if isinstance(expr, pq.MatrixSelector):
        return [expr.vector_selector]
    if isinstance(expr, pq.BinaryExpr):
        return _selectors(expr.lhs) + _selectors(expr.rhs)
    if isinstance(expr, pq.Call):
        return [s for arg in expr.args for s in _selectors(arg)]
    if isinstance(expr, pq.AggregateExpr):
        return _selectors(expr.expr) + _selectors(expr.param)
    if isinstance(expr, (pq.ParenExpr, pq.UnaryExpr, pq.SubqueryExpr)):
        return _selectors(expr.expr)
    return []  # number and string literals, None (an absent parameter)
