"""The CRD's CEL rules refuse at admission what the operator's parser refuses.

No CEL evaluator runs in the unit tests (the API server evaluates the rules in
tests/integration/test_op_admission.py): here each combination the parser refuses in
`tests.unit.test_op_model.REFUSED_BOTH` must have its rule at the schema node it names, with a
message holding the same words as the parser's and a rule reading the fields involved. Where a
rule is a regular expression (the load path's pattern and its dot-segment rule), the expression
itself runs here against the parser, path by path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator.faultspec import FAULT_BLOCKS, FAULT_TYPES
from gameday_operator.model import SpecError, parse_spec
from tests.fixtures.admission import REJECTED
from tests.unit.test_op_model import REFUSED_BOTH, minimal

CRD = Path(__file__).resolve().parents[2] / "crds" / "failurescenario.yaml"


def _root() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def _node(path: str) -> dict[str, Any]:
    """The schema at `spec.faults[].networkLatency` and the like."""
    node = _root()
    for name in path.split("."):
        node = node["properties"][name.removesuffix("[]")]
        if name.endswith("[]"):
            node = node["items"]
    return node


@pytest.mark.parametrize(
    ("case", "node", "message", "reads"),
    [(c, n, m, r) for c, _, n, m, r in REFUSED_BOTH],
    ids=[c[0] for c in REFUSED_BOTH],
)
def test_the_crd_has_the_rule_the_parser_applies(
    case: str, node: str, message: str, reads: tuple[str, ...]
) -> None:
    rules = _node(node).get("x-kubernetes-validations") or []
    matching = [r for r in rules if message in r["message"]]
    assert matching, f"no CEL rule at {node} with a message holding {message!r}"
    assert any(all(word in r["rule"] for word in reads) for r in matching), (
        f"the rule at {node} does not read {reads}"
    )


def test_every_url_field_requires_a_host() -> None:
    for path in (
        "spec.faults[].trafficSpike.url",
        "spec.faults[].networkLatency.proxyAdmin",
        "spec.steadyState.prometheus.url",
    ):
        rules = [r["rule"] for r in _node(path)["x-kubernetes-validations"]]
        assert any("isURL(self)" in r and "url(self).getHostname() != ''" in r for r in rules)


def test_no_rule_refuses_a_value_the_crd_fills_in_itself() -> None:
    # Defaults are applied before validation: a default interface would meet the rule that
    # refuses an interface with mechanism Proxy on every Proxy fault.
    assert "default" not in _node("spec.faults[].networkLatency.interface")
    # A defaulted responseDelay is 0s, which the mode rule lets through.
    assert _node("spec.remediation.responseDelay")["default"] == "0s"


@pytest.mark.parametrize(
    "node", ["spec.faults[].trafficSpike.target", "spec.faults[].networkLatency.proxy"]
)
def test_a_service_reference_is_a_dns_1035_name_and_a_port(node: str) -> None:
    ref = _node(node)
    assert ref["required"] == ["service", "port"]
    service = ref["properties"]["service"]
    assert service["pattern"] == "^[a-z]([-a-z0-9]*[a-z0-9])?$" and service["maxLength"] == 63
    port = ref["properties"]["port"]
    assert (port["type"], port["minimum"], port["maximum"]) == ("integer", 1, 65535)


PATHS = [
    "/",
    "/orders",
    "/orders/1?status=new&x=..",
    "/a.b/c..d/...",
    "/%41",
    "orders",
    "/a b",
    "/a#b",
    "/a\\b",
    "/..",
    "/orders/../-/quit",
    "/./x",
    "/%2e%2e/x",
    "/%2E.",
    "/a/.%2e?x=1",
    "/a/..?x",
]


@pytest.mark.parametrize("path", PATHS)
def test_the_crd_refuses_the_load_paths_the_parser_refuses(path: str) -> None:
    # The pattern and the rule's regular expression run here as the API server runs them
    # (both are plain RE2 expressions, which Python's re reads alike).
    node = _node("spec.faults[].trafficSpike.target.path")
    (rule,) = node["x-kubernetes-validations"]
    dot_segments = re.fullmatch(r"!self\.matches\('(.*)'\)", rule["rule"])
    assert dot_segments is not None, rule
    admitted = bool(re.fullmatch(node["pattern"], path)) and not re.search(
        dot_segments.group(1), path
    )
    target = {"service": "shop", "port": 80, "path": path}
    raw = minimal(faults=[{"type": "TrafficSpike", "trafficSpike": {"target": target, "rps": 5}}])
    try:
        parse_spec(raw)
        parsed = True
    except SpecError:
        parsed = False
    assert admitted == parsed
    assert node["default"] == "/"


def test_the_crd_names_every_fault_type_and_block_the_registry_has() -> None:
    item = _node("spec.faults[]")
    assert item["properties"]["type"]["enum"] == list(FAULT_TYPES)
    assert set(FAULT_BLOCKS.values()) <= set(item["properties"])
    one_block = item["x-kubernetes-validations"][0]["rule"]
    for type_, block in FAULT_BLOCKS.items():
        assert f"(self.type == '{type_}') == has(self.{block})" in one_block


NETWORK_BLOCKS = [
    f"spec.faults[].{FAULT_BLOCKS[t]}"
    for t in ("NetworkBandwidth", "NetworkLoss", "NetworkPartition")
    if t in FAULT_BLOCKS
]


def test_the_network_faults_share_one_scope_schema() -> None:
    for key in ("interface", "direction", "destinations"):
        first, *others = (_node(f"{b}.{key}") for b in NETWORK_BLOCKS)
        assert all(other == first for other in others), key
    cidr = _node(f"{NETWORK_BLOCKS[-1]}.destinations[].cidr")
    assert [r["rule"] for r in cidr["x-kubernetes-validations"]] == ["isCIDR(self)"]


def _messages(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [r["message"] for r in node.get("x-kubernetes-validations") or []]
        return own + [m for value in node.values() for m in _messages(value)]
    if isinstance(node, list):
        return [m for item in node for m in _messages(item)]
    return []


# Tried by tests/integration/test_op_admission.py::test_spec_is_immutable: it needs an update.
TRIED_BY_AN_UPDATE = ("spec is immutable",)


def test_every_rule_of_the_crd_is_tried_on_the_api_server() -> None:
    untried = [
        message
        for message in dict.fromkeys(_messages(_root()))
        if not message.startswith(TRIED_BY_AN_UPDATE)
        and not any(expected in message for _, _, expected in REJECTED)
    ]
    assert untried == [], "CRD rules no admission case tries"
