"""Which pods a fault goes into, as Chaos Mesh selects them: All, One, Fixed(N), Percent(P).

Pure and deterministic: the same pods, mode and seed always give the same choice, whatever
order the pods were listed in, so that a restarted operator picks the same targets again.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

ModeName = Literal["All", "One", "Fixed", "Percent"]


@dataclass(frozen=True)
class SelectionMode:
    name: ModeName
    value: int | None = None

    def __post_init__(self) -> None:
        if self.name in ("All", "One"):
            if self.value is not None:
                raise ValueError(f"mode {self.name} takes no value")
        elif self.name == "Fixed":
            if self.value is None or self.value < 1:
                raise ValueError("mode Fixed needs a value of at least 1")
        elif self.name == "Percent":
            if self.value is None or not 0 < self.value <= 100:
                raise ValueError("mode Percent needs a value in 1..100")
        else:
            raise ValueError(f"unknown selection mode {self.name!r}")


ALL = SelectionMode("All")
ONE = SelectionMode("One")


def fixed(count: int) -> SelectionMode:
    return SelectionMode("Fixed", count)


def percent(value: int) -> SelectionMode:
    return SelectionMode("Percent", value)


def parse_mode(text: str) -> SelectionMode:
    """ "All", "One", "Fixed(3)" / "Fixed:3", "Percent(50)" / "Percent:50"."""
    value = text.strip()
    for separator, closing in (("(", ")"), (":", "")):
        if separator in value:
            name, _, rest = value.partition(separator)
            if closing and not rest.endswith(closing):
                raise ValueError(f"bad selection mode {text!r}")
            number = rest[: -len(closing)] if closing else rest
            if not number.strip().isdigit():
                raise ValueError(f"bad selection value in {text!r}")
            return SelectionMode(name.strip(), int(number))  # type: ignore[arg-type]
    return SelectionMode(value)  # type: ignore[arg-type]


def count_for(mode: SelectionMode, available: int) -> int:
    """How many of `available` pods the mode selects.

    Fixed(N) takes min(N, available); Percent(P) takes floor(available * P / 100) as Chaos
    Mesh does, but at least one pod when any exist, so a fault never silently hits nothing.
    """
    if available == 0:
        return 0
    if mode.name == "All":
        return available
    if mode.name == "One":
        return 1
    assert mode.value is not None
    if mode.name == "Fixed":
        return min(mode.value, available)
    return max(1, math.floor(available * mode.value / 100))


def _seed_int(seed: str | int) -> int:
    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "big")


def select_pods(pods: Iterable[str], mode: SelectionMode, seed: str | int) -> list[str]:
    """The chosen pod names, sorted. Duplicate names count once."""
    candidates = sorted(set(pods))
    count = count_for(mode, len(candidates))
    if count == len(candidates):
        return candidates
    return sorted(random.Random(_seed_int(seed)).sample(candidates, count))
