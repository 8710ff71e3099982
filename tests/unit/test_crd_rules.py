"""The CRD's CEL rules refuse at admission what the operator's parser refuses.

No CEL evaluator runs in the unit tests (the API server evaluates the rules in
tests/integration/test_op_admission.py): here each combination the parser refuses in
`tests.unit.test_op_model.REFUSED_BOTH` must have its rule at the schema node it names, with a
message holding the same words as the parser's and a rule reading the fields involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator.faultspec import FAULT_BLOCKS, FAULT_TYPES
from tests.unit.test_op_model import REFUSED_BOTH

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
