"""The fault registry: one pure definition per fault type, and what the model derives from it."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from gameday_operator import builders, model
from gameday_operator.faultspec import DEFINITIONS, FAULT_BLOCKS, POD_FAULTS, FaultParams
from gameday_operator.faultspec.registry import POD_FAULT_NAMES
from gameday_operator.model import FaultType


def test_the_registry_defines_every_fault_type_once() -> None:
    assert list(DEFINITIONS) == list(FaultType)
    assert all(definition.fault_type is type_ for type_, definition in DEFINITIONS.items())
    assert {d.params_type for d in DEFINITIONS.values()} == set(typing.get_args(FaultParams))


def test_the_derived_blocks_and_pod_faults_are_those_the_model_listed() -> None:
    assert list(FAULT_BLOCKS.items()) == [
        (FaultType.TRAFFIC_SPIKE, "trafficSpike"),
        (FaultType.CPU_STRESS, "cpuStress"),
        (FaultType.MEMORY_STRESS, "memoryStress"),
        (FaultType.DB_SLOW_QUERY, "dbSlowQuery"),
        (FaultType.NETWORK_LATENCY, "networkLatency"),
    ]
    assert (
        frozenset({FaultType.CPU_STRESS, FaultType.MEMORY_STRESS, FaultType.NETWORK_LATENCY})
        == POD_FAULTS
    )
    # The selector's error message names them as it did when it listed them.
    assert POD_FAULT_NAMES == "CPUStress, MemoryStress, NetworkLatency with mechanism Netem"
    assert model.FAULT_BLOCKS is FAULT_BLOCKS
    assert model.POD_FAULTS is POD_FAULTS


def test_each_injector_builder_is_the_one_the_actuators_call() -> None:
    assert [d.injector_args for d in DEFINITIONS.values()] == [
        builders.load_args,
        builders.stress_cpu_args,
        builders.stress_memory_args,
        builders.db_args,
        builders.netem_args,
    ]


@pytest.mark.parametrize(
    "first",
    [
        "gameday_operator.faultspec",
        "gameday_operator.faultspec.cpu_stress",
        "gameday_operator.faultspec.registry",
        "gameday_operator.model",
        "gameday_operator.builders",
    ],
)
def test_any_of_the_modules_can_be_imported_first(first: str) -> None:
    # The model re-exports the fault modules' types and they import the model's: no order of
    # first import may find one of them half-initialised.
    subprocess.run([sys.executable, "-c", f"import {first}"], check=True)
