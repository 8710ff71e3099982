"""The operator's own metrics on /metrics: scenarios by phase, changes by kind and state, MTTR and
remediation durations by architecture.

Every status the operator writes passes through `record`, which compares it with the last status
it saw for that scenario. The first status seen for a scenario (at start, or after a restart) is
a baseline, not counted: like any Prometheus counter, these count what this process did.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from gameday_operator.model import ActionState, Phase, Status

log = logging.getLogger(__name__)

DURATION_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 60)


@dataclass
class _Seen:
    phase: Phase | None
    action_states: dict[str, ActionState]
    completed: bool


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _ticked: dict[str, float] = field(default_factory=dict)  # uid → its last tick (monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serving: bool = False

    def __post_init__(self) -> None:
        r = self.registry
        self.scenarios = Gauge(
            "gameday_scenarios",
            "FailureScenarios this operator tracks, by phase",
            ["phase"],
            registry=r,
        )
        self.actions = Counter(
            "gameday_actions_total",
            "Changes the operator made or undid, by kind and the state they reached",
            ["kind", "state"],
            registry=r,
        )
        self.mttr = Histogram(
            "gameday_mttr_seconds",
            "Breach detected to SLO recovered, per finished scenario",
            ["architecture"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.remediation = Histogram(
            "gameday_remediation_seconds",
            "Remediation started to remediated, per finished scenario",
            ["architecture"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        # A standby serves /metrics too, so that it is an up target that says it stands by
        # rather than a down one that pages someone.
        self.leading = Gauge(
            "gameday_operator_leading",
            "1 while this replica acts on scenarios (it holds the Lease), 0 while it stands by",
            registry=r,
        )
        self.tick_lag = Histogram(
            "gameday_tick_lag_seconds",
            "How much later than its interval after the one before a scenario's tick started",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        for phase in Phase:
            self.scenarios.labels(phase=phase.value).set(0)

    def ticked(self, key: str, at: float, interval: float) -> None:
        """A tick of scenario `key` started at `at` (monotonic seconds): its lag is observed
        from the one before (none for the first this process runs)."""
        with self._lock:
            before = self._ticked.get(key)
            self._ticked[key] = at
        if before is not None:
            self.tick_lag.observe(max(0.0, at - before - interval))

    def record(self, key: str, architecture: str, status: Status) -> None:
        states = {a.id: a.state for a in status.actions}
        completed = status.timeline.completed_at is not None
        with self._lock:
            before = self._seen.get(key)
            if before is not None:
                by_id = {a.id: a for a in status.actions}
                for action_id, state in states.items():
                    if before.action_states.get(action_id) != state:
                        self.actions.labels(kind=by_id[action_id].kind, state=state.value).inc()
                if completed and not before.completed:
                    m = status.measurements
                    if m.mttr_seconds is not None:
                        self.mttr.labels(architecture=architecture).observe(m.mttr_seconds)
                    if m.remediation_seconds is not None:
                        self.remediation.labels(architecture=architecture).observe(
                            m.remediation_seconds
                        )
            self._seen[key] = _Seen(status.phase, states, completed)
            self._moved(before.phase if before is not None else None, status.phase)

    def forget(self, key: str) -> None:
        with self._lock:
            before = self._seen.pop(key, None)
            self._ticked.pop(key, None)
            if before is not None:
                self._moved(before.phase, None)

    def _moved(self, before: Phase | None, after: Phase | None) -> None:
        """One scenario went from phase `before` to `after` (None: none): the gauges follow,
        without counting every scenario again (this runs at every tick of every one)."""
        if before is after:
            return
        if before is not None:
            self.scenarios.labels(phase=before.value).dec()
        if after is not None:
            self.scenarios.labels(phase=after.value).inc()

    def serve(self, port: int) -> bool:
        """Serves /metrics on all interfaces in a background thread, once per process (0 turns
        it off). A port already taken is logged, not fatal: game days matter more than metrics."""
        with self._lock:
            if not port or self._serving:
                return self._serving
            try:
                start_http_server(port, registry=self.registry)
            except OSError as exc:
                log.warning("operator metrics not served on port %d: %s", port, exc)
                return False
            self._serving = True
            return True


# One per process: an operator restarted in the same process keeps serving the same registry.
METRICS = OperatorMetrics()
