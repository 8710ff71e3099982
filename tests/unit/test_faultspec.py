"""The fault registry: one pure definition per fault type, and what the model derives from it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gameday_operator import model
from gameday_operator.faultspec import (
    ACTION_KINDS,
    DEFINITIONS,
    FAULT_BLOCKS,
    FAULT_TYPES,
    POD_FAULTS,
)
from gameday_operator.faultspec.registry import POD_FAULT_NAMES
from gameday_operator.model import SpecError, parse_spec


def test_the_registry_names_every_fault_type_once() -> None:
    assert FAULT_TYPES == (
        "TrafficSpike",
        "CPUStress",
        "MemoryStress",
        "DBSlowQuery",
        "NetworkLatency",
        "NetworkBandwidth",
        "NetworkLoss",
        "NetworkPartition",
    )
    assert all(name == definition.name for name, definition in DEFINITIONS.items())
    assert len({d.params_type for d in DEFINITIONS.values()}) == len(DEFINITIONS)


def test_the_derived_blocks_and_pod_faults_are_those_the_model_listed() -> None:
    assert list(FAULT_BLOCKS.items()) == [
        ("TrafficSpike", "trafficSpike"),
        ("CPUStress", "cpuStress"),
        ("MemoryStress", "memoryStress"),
        ("DBSlowQuery", "dbSlowQuery"),
        ("NetworkLatency", "networkLatency"),
        ("NetworkBandwidth", "networkBandwidth"),
        ("NetworkLoss", "networkLoss"),
        ("NetworkPartition", "networkPartition"),
    ]
    network = {"NetworkBandwidth", "NetworkLoss", "NetworkPartition"}
    assert frozenset({"CPUStress", "MemoryStress", "NetworkLatency", *network}) == POD_FAULTS
    # The selector's error message names them as it did when it listed them.
    assert POD_FAULT_NAMES == (
        "CPUStress, MemoryStress, NetworkLatency with mechanism Netem, "
        "NetworkBandwidth, NetworkLoss, NetworkPartition"
    )
    assert model.FAULT_BLOCKS is FAULT_BLOCKS
    assert model.POD_FAULTS is POD_FAULTS


def test_the_action_kinds_are_those_the_faults_recorded() -> None:
    assert [k.name for k in ACTION_KINDS] == [
        "LoadJob",
        "CPUStressContainer",
        "CPUStressExec",
        "MemoryStressContainer",
        "DBJob",
        "NetemContainer",
        "ProxyLatency",
        "NetworkBandwidthContainer",
        "NetworkLossContainer",
        "NetworkPartitionContainer",
    ]


def test_a_type_no_definition_names_is_refused_with_the_ones_there_are() -> None:
    raw = {"target": {"architecture": "monolith", "deployment": "web"}}
    with pytest.raises(SpecError) as raised:
        parse_spec({**raw, "faults": [{"type": "DiskFill", "diskFill": {}}]})
    assert str(raised.value) == (
        "spec.faults[0].type must be one of TrafficSpike, CPUStress, MemoryStress, "
        "DBSlowQuery, NetworkLatency, NetworkBandwidth, NetworkLoss, NetworkPartition, "
        "got 'DiskFill'"
    )


@pytest.mark.parametrize(
    "first",
    [
        "gameday_operator.faultspec",
        "gameday_operator.faultspec.cpu_stress",
        "gameday_operator.faultspec.registry",
        "gameday_operator.model",
        "gameday_operator.model.changes",
        "gameday_operator.model.target",
        "gameday_operator.faultspec.pods",
        "gameday_operator.remediation",
        "gameday_operator.builders",
    ],
)
def test_any_of_the_modules_can_be_imported_first(first: str) -> None:
    # The model re-exports the fault modules' types and they import the model's: no order of
    # first import may find one of them half-initialised.
    subprocess.run([sys.executable, "-c", f"import {first}"], check=True)
