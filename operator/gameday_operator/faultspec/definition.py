"""What the operator knows of one fault type apart from acting on it. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gameday_operator.model.enums import FaultType
from gameday_operator.model.reader import Reader

P = TypeVar("P")


@dataclass(frozen=True)
class FaultDefinition(Generic[P]):
    """One fault type: its spec block, its typed parameters and its injector command line."""

    fault_type: FaultType
    # The key of the fault's own block in spec.faults[i] (the only block a fault carries).
    block: str
    params_type: type[P]
    # The block's reader and spec.duration (in seconds) → the parameters; SpecError if invalid.
    parse: Callable[[Reader, float], P]
    # Runs in the target's pods, so a selector picks which of them.
    pod_fault: bool
    # Builds the `gameday-chaos` arguments; each fault's builder takes what it needs.
    injector_args: Callable[..., list[str]] | None = None
    # For a pod fault whose parameters may place it elsewhere: False where they do.
    in_pods: Callable[[P], bool] | None = None
    # When in_pods holds, as the selector's error message names it ("with mechanism Netem").
    in_pods_when: str = ""

    def runs_in_pods(self, params: P) -> bool:
        """Whether the fault, with these parameters, runs in the target's pods."""
        return self.pod_fault and (self.in_pods is None or self.in_pods(params))

    @property
    def pod_fault_name(self) -> str:
        """The type as a pod fault, with the condition its parameters must meet if any."""
        return f"{self.fault_type.value} {self.in_pods_when}".rstrip()
