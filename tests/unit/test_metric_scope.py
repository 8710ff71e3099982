"""A scenario's queries read only its own namespace's series (`metric_scope`, `sources`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator import sources
from gameday_operator.config import Config
from gameday_operator.metric_scope import scoped_selector, unscoped_selectors
from gameday_operator.model import parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NS = "shop-msa"
SCOPED = f'namespace="{NS}"'


@pytest.mark.parametrize(
    ("query", "outside"),
    [
        (f"x{{{SCOPED}}}", []),
        (f"sum(rate(x{{{SCOPED}}}[1m]))", []),
        (f'histogram_quantile(0.95, sum by (le) (rate(x{{{SCOPED},a="b"}}[1m])))', []),
        (f"topk(3, x{{{SCOPED}}})", []),
        (f"max_over_time(x{{{SCOPED}}}[5m:1m]) > bool 3", []),
        (f"-(x{{{SCOPED}}})", []),
        ("x", ["x"]),
        ('x{namespace="other"}', ['x{namespace="other"}']),
        (f'x{{namespace=~"{NS}"}}', [f'x{{namespace=~"{NS}"}}']),
        (f'x{{namespace!="{NS}"}}', [f'x{{namespace!="{NS}"}}']),
        (f"sum(x{{{SCOPED}}}) / on() group_left count(up)", ["up"]),
        (f"x{{{SCOPED}}} unless y", ["y"]),
        (f"x{{{SCOPED}}} or sum(rate(y[1m]))", ["y"]),
        (f'count_values("v", x{{{SCOPED}}}) and absent(z{{a="b"}})', ['z{a="b"}']),
        (f'{{__name__=~".+",{SCOPED}}}', []),
    ],
)
def test_every_selector_must_carry_the_namespace(query: str, outside: list[str]) -> None:
    assert unscoped_selectors(query, NS) == outside


def test_an_or_group_without_the_namespace_reads_outside_it() -> None:
    assert unscoped_selectors(f'x{{{SCOPED} or job="a"}}', NS) != []
    assert unscoped_selectors(f'x{{{SCOPED},a="1" or {SCOPED},a="2"}}', NS) == []


def test_a_query_that_is_not_promql_is_refused_with_the_parsers_words() -> None:
    with pytest.raises(ValueError, match="is not PromQL: unclosed left parenthesis"):
        unscoped_selectors("sum(x", NS)


def test_the_namespace_comes_first_in_the_selector_the_queries_carry() -> None:
    assert scoped_selector(NS, "") == SCOPED
    assert scoped_selector(NS, ' route!~"/healthz", ') == f'{SCOPED},route!~"/healthz"'


def scenario(**prometheus: Any) -> Any:
    return parse_scenario(
        {
            "metadata": {"name": "s", "namespace": NS, "uid": "u", "generation": 1},
            "spec": {
                "target": {"architecture": "msa", "deployment": "order"},
                "faults": [{"type": "CPUStress", "cpuStress": {"load": 50}}],
                "steadyState": {"window": "20s", "prometheus": prometheus},
            },
        }
    )


def test_the_built_in_queries_read_the_scenarios_namespace_only() -> None:
    sc = scenario()
    assert sources.unscoped_queries(sc, Config()) == []
    cfg = sources.observe_config(sc, Config())
    assert cfg is not None and cfg.selector == SCOPED


def test_a_hand_written_query_without_selector_is_refused_unless_the_operator_allows_it() -> None:
    sc = scenario(queries={"rps": "sum by (service) (rate(http_requests_total[$window]))"})
    (problem,) = sources.unscoped_queries(sc, Config())
    assert problem.startswith("the rps query reads series of any namespace through")
    assert f"every selector must carry {SCOPED} (write $selector in it" in problem
    assert sources.unscoped_queries(sc, Config(confine_metrics=False)) == []
    with_selector = scenario(
        queries={"rps": 'sum by (service) (rate(x{service=~"$service"$selector}[$window]))'}
    )
    assert sources.unscoped_queries(with_selector, Config()) == []


def test_an_override_that_cannot_be_filled_is_refused() -> None:
    sc = scenario(queries={"p95": "rate(x{a=$nope}[$window])"})
    (problem,) = sources.unscoped_queries(sc, Config())
    assert problem.startswith("spec.steadyState.prometheus: bad placeholder in query override")
    assert "known: $window, $service, $selector" in problem
    broken = scenario(queries={"p95": "rate(x{$selector}[$window]"})
    assert sources.unscoped_queries(broken, Config()) == [
        "the p95 query is not PromQL: unclosed left parenthesis"
    ]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_reads_its_own_namespace_only(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "FailureScenario":
            doc["metadata"].setdefault("namespace", "default")
            doc["metadata"].update(uid="u", generation=1)
            assert sources.unscoped_queries(parse_scenario(doc), Config()) == []
