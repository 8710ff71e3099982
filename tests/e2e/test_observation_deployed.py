"""The SLO as the in-cluster operator reads it from the in-cluster Prometheus, on the deployed
monolith under steady customers (two open-loop `gameday-chaos load` generators in a pod, as
the demo runs them).

A real fault — database latency through the proxy the shop always talks through — is seen as
a breach within two scrape intervals plus the SLO window; once the fault is taken away the
operator sees the SLO hold for a window and calls the system recovered; the baseline it
measured before injecting matches what the load generators themselves sent; and when the
shop answers errors past `abort.errorRatioAbove`, the guardrail ends the run and reverts
everything at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from gameday_demo.checks import leftovers
from gameday_demo.customers import (
    TrafficResult,
    delete_customers,
    in_customers,
    start_customers,
    stop_customers,
)
from gameday_demo.deploy import all_available
from gameday_demo.kubectl import Kubectl
from gameday_demo.shapes import MONOLITH, Traffic
from gameday_operator.model import parse_time
from gameday_operator.observe import REQUEST_DURATION_METRIC
from tests.e2e.test_faults_deployed import (
    NAMESPACE,
    Json,
    apply,
    kubectl,
    run,
    scenario,
    status,
    wait_completed,
)
from tests.fixtures.cluster import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

__all__ = ["kubectl", "run"]  # fixtures this module uses by name

SCRAPE_SECONDS = 5  # manifests/observability/prometheus.yml
SAMPLE_SECONDS = 5  # the operator's GAMEDAY_SAMPLE_INTERVAL default
# Four scrapes: a rate over fewer samples jumps with the scrape alignment.
WINDOW_SECONDS = 20
SLO_P95_SECONDS = 0.25
PROMETHEUS = "http://prometheus.gameday-system.svc:9090"
SELECTOR = 'namespace="shop-monolith",route!~"/(healthz|readyz|metrics)"'
PROXY = {"service": "db-latency-admin", "port": 15000}
# The same admin API, as the test itself calls it from the shop's namespace.
PROXY_ADMIN = "http://db-latency-admin.shop-monolith.svc:15000"


def observed(name: str, faults: list[Json], *, abort: float = 0.95) -> Json:
    manifest = scenario(name, faults, duration="3m")
    manifest["spec"]["steadyState"] = {
        "p95LatencySeconds": SLO_P95_SECONDS,
        "errorRatio": 0.01,
        "window": f"{WINDOW_SECONDS}s",
        "prometheus": {"url": PROMETHEUS, "selector": SELECTOR},
    }
    manifest["spec"]["abort"] = {"errorRatioAbove": abort}
    return manifest


def database_latency(ms: int) -> Json:
    return {
        "type": "NetworkLatency",
        "networkLatency": {"latency": f"{ms}ms", "mechanism": "Proxy", "proxy": PROXY},
    }


def at(value: object) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None, value
    return parsed


@pytest.fixture
def customers(kubectl: Kubectl) -> Iterator[Callable[[], TrafficResult]]:
    """Steady customers on the monolith; call the fixture's value to stop them and read their
    summaries. Prometheus sees their full rate, healthy, before the test starts."""
    traffic = Traffic()
    start_customers(kubectl, MONOLITH, traffic)
    stopped: list[TrafficResult] = []

    def stop() -> TrafficResult:
        stopped.append(stop_customers(kubectl, MONOLITH))
        return stopped[-1]

    def steady() -> bool:
        p95, rps = in_prometheus(kubectl)
        offered = traffic.order_rps + traffic.catalog_rps
        return p95 is not None and p95 < SLO_P95_SECONDS and abs(rps - offered) <= 0.05 * offered

    try:
        wait_until(steady, 2 * WINDOW_SECONDS + 60, "the customers' full rate in Prometheus", 2)
        yield stop
    finally:
        if not stopped:
            delete_customers(kubectl, MONOLITH)


def in_prometheus(kubectl: Kubectl) -> tuple[float | None, float]:
    """The monolith's p95 and request rate over one SLO window, as Prometheus has them now."""
    metric, matchers, window = REQUEST_DURATION_METRIC, f"{{{SELECTOR}}}", f"[{WINDOW_SECONDS}s]"
    queries = [
        f"histogram_quantile(0.95, sum by (le) (rate({metric}_bucket{matchers}{window})))",
        f"sum(rate({metric}_count{matchers}{window}))",
    ]
    code = (
        "import httpx, json, sys\n"
        "out = []\n"
        "for q in sys.argv[1:]:\n"
        f"    got = httpx.get({PROMETHEUS + '/api/v1/query'!r}, params={{'query': q}}).json()\n"
        "    found = got['data']['result']\n"
        "    out.append(float(found[0]['value'][1]) if found else None)\n"
        "print(json.dumps(out))"
    )
    done = in_customers(kubectl, MONOLITH, "python3", "-c", code, *queries)
    p95, rps = json.loads(done.stdout)
    return (None if p95 is None or math.isnan(p95) else p95), rps or 0.0


def remove_latency(kubectl: Kubectl) -> None:
    """Takes the fault away behind the operator's back, as a fix would."""
    code = (
        f"import httpx; httpx.delete({PROXY_ADMIN + '/latency'!r}, timeout=10).raise_for_status()"
    )
    in_customers(kubectl, MONOLITH, "python3", "-c", code)


def test_a_real_fault_is_seen_in_time_and_recovery_once_it_is_gone(
    kubectl: Kubectl, run: list[str], customers: Callable[[], TrafficResult]
) -> None:
    name = apply(kubectl, run, observed("slow-db", [database_latency(200)]))

    def breached() -> Json | None:
        st = status(kubectl, name)
        return st if (st.get("timeline") or {}).get("breachDetectedAt") else None

    st = wait_until(breached, 120, f"{name}: a breach", interval=1)
    timeline = st["timeline"]
    detection = (at(timeline["breachDetectedAt"]) - at(timeline["injectedAt"])).total_seconds()
    print(f"breach detected {detection:.1f}s after injection")
    assert detection <= 2 * SCRAPE_SECONDS + WINDOW_SECONDS, timeline

    removed = datetime.now(UTC)
    remove_latency(kubectl)
    done = wait_completed(kubectl, name, 4 * WINDOW_SECONDS + 60)
    traffic = customers()

    assert (done["phase"], done["reason"]) == ("Recovered", "Recovered"), done.get("message")
    recovery = (at(done["timeline"]["recoveredAt"]) - removed).total_seconds()
    print(f"recovery seen {recovery:.1f}s after the latency was removed")
    # The SLO must hold for a whole window over data that no longer holds a slow request.
    assert 0 < recovery <= 2 * WINDOW_SECONDS + 2 * SCRAPE_SECONDS + 2 * SAMPLE_SECONDS
    figures = done["measurements"]
    assert figures["peak"]["p95LatencySeconds"] > SLO_P95_SECONDS, figures
    assert figures["recovered"]["p95LatencySeconds"] < SLO_P95_SECONDS, figures
    assert figures["mttrSeconds"] > 0
    assert {a["state"] for a in done["actions"]} == {"Reverted"}, done["actions"]
    assert leftovers(kubectl, MONOLITH, {"status": done}) == []

    # Open loop: the generators held their rate whatever the shop did, so what they sent per
    # second is what the operator must have seen before injecting.
    sent = traffic.orders["achieved_rps"] + traffic.catalog["achieved_rps"]
    baseline = figures["baseline"]
    print(f"baseline {baseline}; the load generators sent {sent:.2f}/s")
    assert baseline["rps"] == pytest.approx(sent, rel=0.10)
    assert baseline["errorRatio"] <= 0.01
    assert baseline["p95LatencySeconds"] < SLO_P95_SECONDS


def test_the_abort_guardrail_reverts_everything_when_errors_pass_its_bound(
    kubectl: Kubectl, run: list[str], customers: Callable[[], TrafficResult]
) -> None:
    # Two seconds per database round trip: the shop's connection pools run dry and it answers
    # "database unavailable" (503) after its pool timeout.
    name = apply(kubectl, run, observed("db-outage", [database_latency(2000)], abort=0.1))
    done = wait_completed(kubectl, name, 120)
    customers()

    assert (done["phase"], done["reason"]) == ("Aborted", "AbortThresholdExceeded"), done
    timeline = done["timeline"]
    took = (at(timeline["completedAt"]) - at(timeline["injectedAt"])).total_seconds()
    print(f"aborted {took:.1f}s after injection: {done['message']}")
    assert took <= 2 * SCRAPE_SECONDS + WINDOW_SECONDS + 2 * SAMPLE_SECONDS + 10
    assert {a["state"] for a in done["actions"]} == {"Reverted"}, done["actions"]
    assert leftovers(kubectl, MONOLITH, {"status": done}) == []
    # The shop comes back by itself once the latency is gone.
    wait_until(lambda: all_available(kubectl, NAMESPACE), 120, "the monolith to be Available again")
