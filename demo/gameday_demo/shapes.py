"""The two shapes of the shop the demo plays, the operator it deploys, and the traffic."""

from __future__ import annotations

from dataclasses import dataclass, replace

import yaml

from gameday_demo.errors import DemoError
from gameday_demo.kubectl import Json
from gameday_demo.repo import Repo
from gameday_operator.model import Phase

TERMINAL = tuple(phase.value for phase in Phase if phase.terminal)
OPERATOR_NAMESPACE = "gameday-system"
# The demo's operator acts in the shop namespaces only: other game days on the same cluster
# (someone else's) are left to their own operator.
OPERATOR_WATCH = "shop-*"
CUSTOMERS_POD = "gameday-demo-customers"
CUSTOMERS_IMAGE = "localhost/gameday-chaos:dev"  # gameday-chaos load, and shop audit


@dataclass(frozen=True)
class Shape:
    """One architecture of the shop, and what the demo does with it."""

    name: str  # monolith | msa: the scenario's spec.target.architecture
    namespace: str
    example: str  # its seed FailureScenario, under the repository's examples/
    entry: str  # the public Service
    target: str  # the Deployment faults go into
    # Secrets holding the DSNs of every database with orders or payments (for the audit).
    databases: tuple[tuple[str, str], ...]
    # Deployments that must come out of the game day exactly as they went in.
    untouched: tuple[str, ...] = ()
    # A playbook (spec.remediation.steps) played in place of the seed scenario's own
    # remediation, as bench/bench_playbooks.py compares them; None: the seed's own.
    steps: tuple[Json, ...] | None = None

    def scenario(self, repo: Repo) -> Json:
        path = repo.example(self.example)
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict):
            raise DemoError("scenario", f"{path} holds no FailureScenario")
        if self.steps is not None:
            remediation = document.setdefault("spec", {}).setdefault("remediation", {})
            for block in ("monolith", "msa"):
                remediation.pop(block, None)
            remediation["steps"] = [dict(step) for step in self.steps]
        return document

    def with_playbook(self, steps: tuple[Json, ...] | None) -> Shape:
        """The shape with its seed incident answered by `steps` (None: its own remediation)."""
        return replace(self, steps=steps)

    def scenario_name(self, repo: Repo) -> str:
        return str(self.scenario(repo)["metadata"]["name"])

    def playing(self, incident: str) -> Shape:
        """The shape with the seed scenario of `incident` (one of INCIDENTS)."""
        return replace(self, example=f"{incident}-{self.name}.yaml")


MONOLITH = Shape(
    name="monolith",
    namespace="shop-monolith",
    example="order-spike-monolith.yaml",
    entry="shop",
    target="shop-monolith",
    databases=(("shop-db", "dsn"),),
)
MSA = Shape(
    name="msa",
    namespace="shop-msa",
    example="order-spike-msa.yaml",
    entry="gateway",
    target="order",
    databases=(("order-db", "dsn"), ("payment-db", "dsn")),
    untouched=("gateway", "inventory", "payment"),
)
SHAPES: tuple[Shape, ...] = (MONOLITH, MSA)
# The incidents with a seed scenario for each shape (examples/<incident>-<shape>.yaml): the
# order spike with CPU stress and a slow database, and the network bottleneck.
INCIDENTS: tuple[str, ...] = ("order-spike", "network-bottleneck")


@dataclass(frozen=True)
class Traffic:
    """The steady customers: orders and catalog reads, open loop, bounded in time."""

    order_rps: float = 10.0
    catalog_rps: float = 5.0
    warmup_seconds: float = 30.0  # Prometheus needs a full window of traffic before the baseline
    max_seconds: float = 900.0  # the load stops by itself after this, whatever happens
    # A customer gives up after this, as a mobile or browser client's request timeout does,
    # and counts it as a failure; shorter than the shop's 15 s entry timeout, so an order can
    # commit after its customer was told nothing.
    client_timeout_seconds: float = 10.0
