"""Remediation families, one module per architecture, registered explicitly."""

from __future__ import annotations

from gameday_operator.actuators import Registry
from gameday_operator.model import Architecture
from gameday_operator.remediation import monolith, msa


def registry() -> Registry:
    r = Registry("remediation")
    r.register(Architecture.MONOLITH, monolith.ACTUATOR)
    r.register(Architecture.MSA, msa.ACTUATOR)
    return r
