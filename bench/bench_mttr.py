"""MTTR per architecture over repeated game days, and the demo's wall time.

Plays the seed incident (examples/order-spike-*.yaml) on each shape N times under the demo's
steady customer traffic, exactly as `gameday demo` does, and prints per shape: MTTR (breach →
recovered), downtime, remediation time, peak p95 and error ratio — median, min and max — plus
the wall time of one full demo (deploy + both shapes + report).

    KUBECONFIG=... python bench/bench_mttr.py [--runs 3] [--out DIR]

Needs the cluster and images (`make cluster images`). Each run is bounded by its scenario's
duration; the whole benchmark by runs x (2 x ~5 min).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Kubectl
from gameday_demo.runner import ShapeRun, run_demo
from gameday_demo.shapes import SHAPES, Traffic
from gameday_operator.report.summary import ratio_text, shape_text


def _figures(run: ShapeRun) -> dict[str, float | None]:
    m = run.measurements
    peak = m.get("peak") or {}

    def f(value: Any) -> float | None:
        return None if value is None else float(value)

    return {
        "detect": f(m.get("detectSeconds")),
        "mttr": f(m.get("mttrSeconds")),
        "respond": f(m.get("respondSeconds")),
        "repair": f(m.get("repairSeconds")),
        "verify": f(m.get("verifySeconds")),
        "downtime": f(m.get("downtimeSeconds")),
        "remediation": f(m.get("remediationSeconds")),
        "peak_p95": f(peak.get("p95LatencySeconds")),
        "peak_errors": f(peak.get("errorRatio")),
    }


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:8.1f}  [{min(values):.1f} … {max(values):.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="demo runs (each plays both shapes)")
    parser.add_argument("--out", type=Path, default=Path("bench-mttr"))
    args = parser.parse_args()
    kubectl = Kubectl.from_env()
    per_shape: dict[str, list[ShapeRun]] = {s.name: [] for s in SHAPES}
    walls: list[float] = []
    for i in range(args.runs):
        started = time.monotonic()
        try:
            result = run_demo(
                kubectl,
                args.out / f"run-{i + 1}",
                Traffic(),
                SHAPES,
                say=lambda text: None,
                skip_deploy=i > 0,
            )
        except DemoError as err:
            print(err.explain(), file=sys.stderr)
            return 1
        walls.append(time.monotonic() - started)
        for run in result.runs:
            per_shape[run.shape.name].append(run)
            fig = _figures(run)
            summary = run.summary()
            print(
                f"run {i + 1} {run.shape.name:8} {run.phase:9} MTTR {fig['mttr'] or 0:6.1f}s "
                f"downtime {fig['downtime'] or 0:5.1f}s peak p95 {fig['peak_p95'] or 0:5.2f}s "
                f"peak errors {fig['peak_errors'] or 0:5.1%} "
                f"affected {run.blast_radius.get('affectedServices')} "
                f"node idle ≥ {ratio_text(run.min_node_idle)} before remediation",
                flush=True,
            )
            print(f"    seed shape: {shape_text(summary.seed_shape)}", flush=True)
            if summary.customer_shape is not None:
                print(f"    as the services measured it: {shape_text(summary.shape)}", flush=True)
        print(f"run {i + 1} demo wall time {walls[-1]:.0f}s", flush=True)

    print()
    print(f"{'':22}{'median':>8}  [min … max] over {args.runs} run(s)")
    for name, runs in per_shape.items():
        recovered = [r for r in runs if r.phase == "Recovered"]
        held = [r for r in runs if r.summary().seed_shape.held]
        held_services = [r for r in runs if r.summary().shape.held]
        clean = [r for r in runs if not r.leftovers]
        print(
            f"{name}: {len(recovered)}/{len(runs)} recovered, seed shape held in "
            f"{len(held)}/{len(runs)} as the customers saw it ({len(held_services)}/{len(runs)} "
            f"as the services measured it), every fault reverted in {len(clean)}/{len(runs)}"
        )
        for key, label in (
            ("detect", "time to detect (s)"),
            ("mttr", "MTTR (s)"),
            ("respond", "  respond (s)"),
            ("repair", "  repair (s)"),
            ("verify", "  verify (s)"),
            ("downtime", "downtime (s)"),
            ("peak_p95", "peak p95 (s)"),
        ):
            values = [v for r in recovered if (v := _figures(r)[key]) is not None]
            print(f"  {label:20}{_spread(values)}")
        errors = [100 * v for r in recovered if (v := _figures(r)["peak_errors"]) is not None]
        print(f"  {'peak errors (%)':20}{_spread(errors)}")
    print(f"demo wall time (s)    {_spread(walls)}  (first run includes deployment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
