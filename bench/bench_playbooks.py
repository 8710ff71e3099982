"""Response strategies compared: the seed incident (examples/order-spike-*.yaml) played on
each shape under each of its playbooks (gameday_demo.playbooks), N runs each, under the demo's
steady customer traffic, exactly as `gameday demo` plays it.

Prints a line per run (outcome, MTTR, downtime, the customers' orders: sent, failed, and what
the audit found wrong) and then the table `gameday compare` prints from the same runs: per
playbook the MTTR (median and range), downtime, and the CPU-seconds and pod-minutes its steps
added. Every run's scenario is written under --out, for `gameday compare` to read again.

    KUBECONFIG=... python bench/bench_playbooks.py [--runs 2] [--shapes monolith,msa]
        [--playbooks scale-out,index-only] [--out DIR] [--deploy]

Needs the cluster and images (`make cluster images`); --deploy deploys Prometheus, the
operator and the shop first (else they must be deployed, as after `gameday demo`). Each run is
bounded by its scenario's duration: about 5 minutes a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Json, Kubectl
from gameday_demo.playbooks import PLAYBOOKS
from gameday_demo.runner import ShapeRun, run_demo
from gameday_demo.shapes import SHAPES, Traffic
from gameday_operator.report.compare import compare, markdown_table, outcome
from shop.audit import WRONG


def _orders(run: ShapeRun) -> str:
    """The customers' orders as the audit judged them: attempted, failed (the customer told
    so and nothing kept), and wrong (lost, phantom, stuck or duplicated)."""
    categories: Json = run.audit.get("categories") or {}
    attempted = int(run.audit.get("attempted") or 0)
    failed = int(categories.get("failed_cleanly") or 0)
    wrong = sum(int(categories.get(name) or 0) for name in WRONG)
    return f"orders {attempted} attempted, {failed} failed, {wrong} wrong"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each playbook")
    parser.add_argument("--shapes", default="monolith,msa")
    parser.add_argument("--playbooks", default="", help="names to play (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench-playbooks"))
    parser.add_argument("--deploy", action="store_true", help="deploy everything first")
    args = parser.parse_args()
    chosen = {p for p in args.playbooks.split(",") if p}
    shapes = [s for s in SHAPES if s.name in args.shapes.split(",")]
    kubectl = Kubectl.from_env()
    documents: list[Json] = []
    deploy = args.deploy
    for i in range(args.runs):
        for shape in shapes:
            for name, steps in PLAYBOOKS[shape.name].items():
                if chosen and name not in chosen:
                    continue
                where = args.out / shape.name / name / f"run-{i + 1}"
                try:
                    result = run_demo(
                        kubectl,
                        where,
                        Traffic(),
                        [shape.with_playbook(steps)],
                        say=lambda text: None,
                        skip_deploy=not deploy,
                    )
                except DemoError as err:
                    print(err.explain(), file=sys.stderr)
                    return 1
                deploy = False
                (run,) = result.runs
                documents.append(run.scenario)
                m = run.measurements
                print(
                    f"run {i + 1} {shape.name:8} {name:16} {run.phase:9} "
                    f"MTTR {m.get('mttrSeconds') or 0:6.1f}s "
                    f"downtime {m.get('downtimeSeconds') or 0:5.1f}s {_orders(run)}; "
                    f"{run.status.get('message', '')[:80]}",
                    flush=True,
                )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": documents})
    )
    print()
    print(markdown_table(compare(outcome(d) for d in documents)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
