"""FailureScenario spec and status as typed values: parsing, defaults and validation. Pure.

`enums` holds the API's names and enumerations, `spec` and `status` the typed values (each
status type with its serialisation both ways), `reader` and `parsers` the validation from the
raw body; each fault type's parameters and the parsing of its block are in
gameday_operator.faultspec, one module per fault. The kopf handlers hand the raw body to
`parse_spec` / `parse_status` once, at the edge; the rest of the operator only sees these
dataclasses. The names are re-exported here so that importers need not know which module holds
which.
"""

from __future__ import annotations

from gameday_operator.faultspec.cpu_stress import CPUStress
from gameday_operator.faultspec.db_slow_query import DBSlowQuery
from gameday_operator.faultspec.memory_stress import MemoryStress
from gameday_operator.faultspec.network_latency import NetworkLatency
from gameday_operator.faultspec.registry import FAULT_BLOCKS, POD_FAULTS
from gameday_operator.faultspec.traffic_spike import TrafficSpike
from gameday_operator.model.enums import (
    APPROVE_ANNOTATION,
    DEFAULT_SERVICES,
    ENABLED_LABEL,
    FORMER_DEFAULT_INTERFACE,
    GROUP,
    KIND,
    MAX_SAMPLES,
    PLURAL,
    VERSION,
    ActionState,
    Architecture,
    DBMode,
    JsonDict,
    LatencyMechanism,
    Phase,
    RemediationMode,
    Rollout,
    SelectorMode,
    StressMechanism,
)
from gameday_operator.model.parsers import (
    parse_figures,
    parse_scenario,
    parse_scenario_to_revert,
    parse_spec,
    parse_status,
    parse_timeline,
)
from gameday_operator.model.reader import E, SpecError
from gameday_operator.model.spec import (
    Destination,
    Fault,
    MonolithRemediation,
    MsaRemediation,
    PodSelector,
    PrometheusSource,
    Queries,
    Remediation,
    Scenario,
    ServiceRef,
    Spec,
    SteadyState,
    Target,
    url_of,
)
from gameday_operator.model.status import (
    FIGURE_KEYS,
    TIMELINE_KEYS,
    Action,
    BlastRadius,
    Condition,
    Figures,
    Measurements,
    Progress,
    Proposal,
    Sample,
    Status,
    Timeline,
    figures_to_dict,
)
from gameday_operator.model.timestamps import format_time, parse_time

__all__ = [
    "APPROVE_ANNOTATION",
    "DEFAULT_SERVICES",
    "ENABLED_LABEL",
    "FAULT_BLOCKS",
    "FIGURE_KEYS",
    "FORMER_DEFAULT_INTERFACE",
    "GROUP",
    "KIND",
    "MAX_SAMPLES",
    "PLURAL",
    "POD_FAULTS",
    "TIMELINE_KEYS",
    "VERSION",
    "Action",
    "ActionState",
    "Architecture",
    "BlastRadius",
    "CPUStress",
    "Condition",
    "DBMode",
    "DBSlowQuery",
    "Destination",
    "E",
    "Fault",
    "Figures",
    "JsonDict",
    "LatencyMechanism",
    "Measurements",
    "MemoryStress",
    "MonolithRemediation",
    "MsaRemediation",
    "NetworkLatency",
    "Phase",
    "PodSelector",
    "Progress",
    "PrometheusSource",
    "Proposal",
    "Queries",
    "Remediation",
    "RemediationMode",
    "Rollout",
    "Sample",
    "Scenario",
    "SelectorMode",
    "ServiceRef",
    "Spec",
    "SpecError",
    "Status",
    "SteadyState",
    "StressMechanism",
    "Target",
    "Timeline",
    "TrafficSpike",
    "figures_to_dict",
    "format_time",
    "parse_figures",
    "parse_scenario",
    "parse_scenario_to_revert",
    "parse_spec",
    "parse_status",
    "parse_time",
    "parse_timeline",
    "url_of",
]
