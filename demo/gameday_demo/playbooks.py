"""The playbooks the strategy comparison plays against each shape's seed incident
(bench/bench_playbooks.py): the shape's default and the alternatives its responders have,
each as spec.remediation.steps (None: the seed scenario's own remediation)."""

from __future__ import annotations

from gameday_demo.kubectl import Json

# Turns the shop's Redis cache on: reads of the catalog and of orders stop reaching the
# database (docs/shop.md, "The cache switch"). The change rolls the pods.
CACHE_ON: Json = {"kind": "SetConfig", "setConfig": {"name": "SHOP_CACHE_ENABLED", "value": "true"}}

PLAYBOOKS: dict[str, dict[str, tuple[Json, ...] | None]] = {
    "monolith": {
        # Vertical resize, every pod replaced (Recreate): the usual answer.
        "resize+recreate": None,
        # More instances behind the Service, the stressed ones left in place.
        "scale-out": ({"kind": "Scale", "scale": {"replicas": 4}},),
        # The query fixed (the index back), then the cache on, which rolls the pods.
        "index+cache": ({"kind": "RestoreDatabase"}, CACHE_ON),
    },
    "msa": {
        # The order service's HPA raised, a rolling update of order with it.
        "hpa+rolling": None,
        # The query fixed in the order database, and nothing else.
        "index-only": ({"kind": "RestoreDatabase"},),
        # The query fixed, then a rolling update of order alone.
        "index+rolling": (
            {"kind": "RestoreDatabase"},
            {"kind": "Rollout", "rollout": {"strategy": "Rolling", "maxSurge": 1}},
        ),
    },
}
