"""Durations and Kubernetes quantities: parsing and formatting, pure."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The project's one duration grammar: Go's time.ParseDuration (what Kubernetes and Chaos Mesh
# take) narrowed to the units ms, s, m and h, with no sign and no surrounding space: "0", or one
# or more unsigned decimal numbers each followed by its unit ("200ms", "1.5s", "1h30m"). The CRD
# (crds/failurescenario.yaml) carries this pattern on every duration field, and the injector keeps
# a copy in chaos/gameday_chaos/units.py (it may not import the operator);
# tests/unit/test_duration_grammar.py holds all three to one table of strings.
DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
_DURATION = re.compile(DURATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"^([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)


def parse_duration(text: str) -> float:
    """Seconds in a duration of the grammar above ("1m30s", "200ms", "0"). Raises ValueError."""
    if _DURATION.fullmatch(text) is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 200ms, 30s, 5m, 1h30m)")
    parts = _DURATION_PART.findall(text)
    return float(sum((Decimal(n) * _DURATION_SECONDS[u] for n, u in parts), Decimal(0)))


def format_duration(seconds: float) -> str:
    """The shortest Go-style duration for whole seconds or milliseconds."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    return f"{ms // 1000}s"


def human_duration(seconds: float) -> str:
    """A measured duration as kubectl prints an age ("48s", "2m5s", "17m", "3h4m")."""
    whole = max(0, round(seconds))
    if whole < 120:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 10:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def parse_quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity ("250m", "1.5", "512Mi", "1e3") as a Decimal. Raises ValueError."""
    if isinstance(text, int | float):
        return Decimal(str(text))
    m = _QUANTITY.match(text.strip())
    if not m:
        raise ValueError(f"not a quantity: {text!r} (expected e.g. 500m, 2, 256Mi, 8Gi)")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"not a quantity: {text!r}") from exc
    if m.group(2) is not None:
        return number * (Decimal(10) ** int(m.group(2)))
    return number * _SUFFIXES[m.group(3) or ""]


def format_cpu(cores: Decimal) -> str:
    """CPU cores as a quantity: whole cores as "2", otherwise millicores "1500m"."""
    milli = int((cores * 1000).to_integral_value(rounding="ROUND_CEILING"))
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"


def format_memory(size: Decimal) -> str:
    """Bytes as the largest exact binary unit ("512Mi", "3Gi"), else plain bytes."""
    n = int(size.to_integral_value(rounding="ROUND_CEILING"))
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n % factor == 0 and n >= factor:
            return f"{n // factor}{unit}"
    return str(n)
