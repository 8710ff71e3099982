"""The pure part of each fault type, one module per fault: its parameters, the parsing of its
spec block, its injector's command line, its planning and the details it records;
`registry` lists them all. Pure.

The actuators (gameday_operator.faults) act on what these plan.
"""

from __future__ import annotations

# The model re-exports the parameter types, and each fault module imports the model's enums and
# reader: the model is loaded first, so that it finds the fault modules whole.
import gameday_operator.model  # noqa: F401
from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.registry import (
    ACTION_KINDS,
    DEFINITIONS,
    FAULT_BLOCKS,
    FAULT_TYPES,
    POD_FAULTS,
    named_services,
    plan_faults,
)

__all__ = [
    "ACTION_KINDS",
    "DEFINITIONS",
    "FAULT_BLOCKS",
    "FAULT_TYPES",
    "POD_FAULTS",
    "FaultDefinition",
    "named_services",
    "plan_faults",
]
