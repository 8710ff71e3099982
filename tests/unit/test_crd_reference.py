"""The CRD schema explains itself (`kubectl explain fsc...`) and docs/reference.md matches it.

Field names in the reference's `## spec` table are written relative to `spec`: `target.deployment`,
`faults[]`, `faults[].type`, `faults[].selector.mode`. The fault blocks are written without
`faults[].` (`trafficSpike.rps` means `spec.faults[].trafficSpike.rps`). A first cell may group
fields: a name starting with `.` replaces the last segment of the full name before it
(`remediation.monolith.cpuFactor`, `.memoryFactor`), and `a.{x,y}` stands for `a.x` and `a.y`. An
array field may be written with or without `[]` (`faults[]`, `steadyState.services`).

The match between schema and reference is:

- every leaf spec field (no properties of its own) is named in the table;
- every object or array-of-objects spec field is named in the table or has a descendant named
  there (`trafficSpike` is documented by its fields' rows, and need not have a row of its own);
- every name in the table is a spec field of the schema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday_operator import faultspec

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "failurescenario.yaml"
REFERENCE = ROOT / "docs" / "reference.md"
FAULT_BLOCKS = tuple(faultspec.FAULT_BLOCKS.values())


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _properties(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every property under node, depth first, as (path, schema); array items are `name[]`."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        found.append((child_path, child))
        found.extend(_properties(child, child_path))
    items = node.get("items")
    if isinstance(items, dict):
        found.extend(_properties(items, f"{path}[]"))
    return found


# The API server refuses anything but `type` on the root `metadata` (it has its own schema),
# so it is the one property that cannot carry a description.
SCHEMA_PROPERTIES = [(p, s) for p, s in _properties(_schema()) if p != "metadata"]


def test_the_root_metadata_carries_nothing_but_its_type() -> None:
    assert _schema()["properties"]["metadata"] == {"type": "object"}


def test_the_walk_reaches_spec_status_and_array_items() -> None:
    paths = {path for path, _ in SCHEMA_PROPERTIES}
    assert {
        "spec.faults[].trafficSpike.rps",
        "spec.remediation.msa.maxSurge",
        "status.conditions[].type",
        "status.measurements.peak.rps",
    } <= paths


@pytest.mark.parametrize(
    "schema", [s for _, s in SCHEMA_PROPERTIES], ids=[p for p, _ in SCHEMA_PROPERTIES]
)
def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    description = schema.get("description")
    assert isinstance(description, str) and description.strip(), "no description"


def _spec_fields() -> dict[str, bool]:
    """Spec field paths relative to spec (array fields without `[]`) → whether it is a leaf."""
    spec = _schema()["properties"]["spec"]
    fields: dict[str, bool] = {}
    for path, node in _properties(spec):
        items = node.get("items")
        nested = "properties" in node or (isinstance(items, dict) and "properties" in items)
        fields[path] = not nested
    return fields


def _expand(name: str) -> list[str]:
    braces = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", name)
    if braces is None:
        return [name]
    head, alternatives, tail = braces.groups()
    return [f"{head}{alt.strip()}{tail}" for alt in alternatives.split(",")]


def _normalize(name: str) -> str:
    """A reference name → the schema path relative to spec, array items as `name[]`."""
    if name.split(".")[0] in FAULT_BLOCKS:
        name = f"faults[].{name}"
    return name.removesuffix("[]")


def _reference_names() -> set[str]:
    text = REFERENCE.read_text(encoding="utf-8")
    section = re.search(r"^## spec\n(.*?)(?=^## )", text, re.S | re.M)
    assert section is not None, "docs/reference.md has no `## spec` section"
    names: set[str] = set()
    for line in section.group(1).splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        previous = ""
        for token in re.findall(r"`([^`]+)`", first_cell):
            if token.startswith("."):
                assert previous, f"{token} follows no full field name in: {line}"
                token = previous.rsplit(".", 1)[0] + token
            previous = token
            names.update(_normalize(n) for n in _expand(token))
    return names


def test_every_spec_field_is_in_the_reference() -> None:
    documented = _reference_names()
    missing = [
        path
        for path, leaf in _spec_fields().items()
        if path not in documented
        and (leaf or not any(n.startswith((f"{path}.", f"{path}[]")) for n in documented))
    ]
    assert not missing, f"spec fields missing from docs/reference.md: {missing}"


def test_every_reference_field_is_in_the_schema() -> None:
    fields = _spec_fields()
    unknown = sorted(name for name in _reference_names() if name not in fields)
    assert not unknown, f"docs/reference.md names fields the schema lacks: {unknown}"
