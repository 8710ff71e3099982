"""The pure part of each fault type, one module per fault: its parameters, the parsing of its
spec block and its injector's command line; `registry` lists them all. Pure.

The actuators (gameday_operator.faults) act on what these describe.
"""

from __future__ import annotations

# The model re-exports the parameter types, and each fault module imports the model's enums and
# reader: the model is loaded first, so that it finds the fault modules whole.
import gameday_operator.model  # noqa: F401
from gameday_operator.faultspec.definition import FaultDefinition
from gameday_operator.faultspec.registry import DEFINITIONS, FAULT_BLOCKS, POD_FAULTS, FaultParams

__all__ = ["DEFINITIONS", "FAULT_BLOCKS", "POD_FAULTS", "FaultDefinition", "FaultParams"]
