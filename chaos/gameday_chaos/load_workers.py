"""`gameday-chaos load --workers W`: the run's shard split over W processes, each with its own
event loop, sending every W-th of the shard's arrivals from a common start; their summaries
merged exactly (summary_merge) into the one summary the run writes.

One Python event loop spends about 100 µs of CPU per order (send, parse, log, histograms), so
one process is where a pod's rate stops; processes use the pod's other cores. The Prometheus
metrics are those of every worker added up (prometheus_client's multiprocess mode: each worker
writes its values to files of a shared directory, the parent serves their sum).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from gameday_chaos.load import LoadConfig, run_load
from gameday_chaos.logs import event
from gameday_chaos.summary_merge import merge_summaries

log = logging.getLogger(__name__)

# Time for the workers to start (a fresh interpreter each, imports, warm-up) before the common
# start of the schedule; a worker later than that starts its part late, and says so in its lag.
START_MARGIN_SECONDS = 2.0


def worker_configs(config: LoadConfig, scratch: Path, start_at: float) -> list[LoadConfig]:
    """One configuration per worker: its part of the shard, its own summary file, no metrics
    port (the parent serves them), the run's id, start and order log."""
    return [
        dataclasses.replace(
            config,
            shard=config.shard.split(part, config.workers),
            workers=1,
            start_at=start_at,
            summary_path=scratch / f"summary-{part}.json",
            metrics_port=None,
        )
        for part in range(config.workers)
    ]


def _work(config: LoadConfig) -> None:
    import uvloop

    from gameday_chaos.logs import configure

    configure()
    uvloop.run(run_load(config))


def run_workers(config: LoadConfig) -> dict[str, Any]:
    """Runs the shard on config.workers processes and returns their merged summary. SIGTERM
    and SIGINT are passed on to the workers, which stop as one run does."""
    with tempfile.TemporaryDirectory(prefix="gameday-load-") as scratch_dir:
        scratch = Path(scratch_dir)
        metrics_dir = scratch / "metrics"
        metrics_dir.mkdir()
        # Read by prometheus_client when a worker imports it: set before the workers start.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if config.metrics_port is not None:
            from prometheus_client import CollectorRegistry, start_http_server
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
            start_http_server(config.metrics_port, registry=registry)
        context = multiprocessing.get_context("spawn")
        configs = worker_configs(config, scratch, time.time() + START_MARGIN_SECONDS)
        workers = [context.Process(target=_work, args=(c,), daemon=True) for c in configs]
        for worker in workers:
            worker.start()

        def pass_on(signum: int, _frame: FrameType | None) -> None:
            for worker in workers:
                if worker.pid is not None and worker.exitcode is None:
                    os.kill(worker.pid, signum)

        previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in workers:
                worker.join()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        failed = [i for i, w in enumerate(workers) if w.exitcode != 0]
        if failed:
            raise RuntimeError(f"load worker(s) {failed} of {len(workers)} failed")
        summaries = [json.loads(c.summary_path.read_text()) for c in configs if c.summary_path]
    summary = merge_summaries(
        summaries, shard={"index": config.shard.index, "count": config.shard.count}
    )
    summary["workers"] = config.workers
    event(log, "load_merged", **summary)
    if config.summary_path is not None:
        config.summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
