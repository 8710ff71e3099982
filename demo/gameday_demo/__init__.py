"""The demo: the whole incident, end to end, on a running cluster (`gameday demo`).

Deploys Prometheus, the operator and both shapes of the shop; starts steady customer traffic
(a bounded `gameday-chaos load` in a pod next to the shop, which keeps the accepted-orders log
the audit needs); applies the seed FailureScenario to the monolith, then to the order service;
prints a progress line per phase; audits the orders of each shape with `shop audit`; checks
that every fault was reverted and that the services outside the target were left alone; and
writes the comparison report.

Every step is a function the end-to-end test and the MTTR benchmark call too. Cluster access
goes through `kubectl` (the one on PATH, else the local cluster's), so the same code runs on
the local node and on kind. A step that fails raises `DemoError` naming the step, why, and
what to look at.
"""
