"""The operator's entry point: kopf decorators, startup settings, nothing else.

kopf run --all-namespaces -m gameday_operator.main
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from gameday_operator import (
    runtime,
    scenario_create,
    scenario_delete,
    scenario_resume,
    scenario_tick,
    seal,
)
from gameday_operator.config import Config, ConfigError
from gameday_operator.kube import Kube, load_client_config
from gameday_operator.model import GROUP, PLURAL, VERSION
from gameday_operator.runtime import LoggerLike
from gameday_operator.sources import prometheus_source
from gameday_operator.watches import deployment_cache, injected_pod_cache

# Validated at import: a bad GAMEDAY_* variable stops the start. The timer's interval is fixed
# here; everything else is read again at each start, from the environment as it is then.
CONFIG = Config.from_env()
RESOURCE = (GROUP, VERSION, PLURAL)


def _running(status: Any, **_: Any) -> bool:
    status = status or {}
    return bool(status.get("phase")) and not (status.get("timeline") or {}).get("completedAt")


# kopf logs every handler run that succeeded; for the tick that is one line per running
# scenario every tick (500 a second at 1,000 scenarios), saying nothing the tick's own logs
# (a phase change, an action, a failure) do not. Failures and retries are still logged.
TICK_SUCCEEDED = "Timer 'tick' succeeded."


class QuietTicks(logging.Filter):
    """Drops kopf's line for a tick that succeeded, and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != TICK_SUCCEEDED


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: LoggerLike, **_: Any) -> None:
    # A setting the operator cannot use stops it (kopf exits on a permanent startup error)
    # rather than retrying every minute in a pod that looks healthy.
    try:
        config = Config.from_env()
        # A key too short to seal with, or none in a pod.
        seal.key_from(config.status_key, in_cluster="KUBERNETES_SERVICE_HOST" in os.environ)
    except (ConfigError, seal.SealKeyError) as exc:
        raise kopf.PermanentError(str(exc)) from exc
    apply_settings(settings, config)
    quiet = logging.getLogger("kopf.objects")
    if not any(isinstance(f, QuietTicks) for f in quiet.filters):
        quiet.addFilter(QuietTicks())
    load_client_config()
    kube = Kube(timeout=config.request_timeout_seconds, connections=config.workers)
    rt = runtime.Runtime(
        config=config,
        kube=kube,
        source=prometheus_source(config),
        deployments=deployment_cache(kube, config.watch_timeout_seconds),
        injected_pods=injected_pod_cache(kube, config.watch_timeout_seconds),
    )
    rt.metrics.serve(config.metrics_port)
    rt.metrics.leading.set(1)
    runtime.install(rt)
    logger.info("gameday operator configured: %s", config)


def apply_settings(settings: kopf.OperatorSettings, config: Config) -> None:
    """kopf's settings from the operator's configuration."""
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = int(config.watch_timeout_seconds)
    settings.watching.client_timeout = int(config.watch_timeout_seconds) + 10
    settings.networking.request_timeout = config.request_timeout_seconds
    # The ticks of every running scenario and the handlers share this pool.
    settings.execution.max_workers = config.workers
    settings.posting.level = logging.INFO


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster credentials in a pod, else the kubeconfig that KUBECONFIG names now.

    kopf's default login goes through the kubernetes client, whose default kubeconfig path is
    fixed when it is imported; an embedding process may set KUBECONFIG after that.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.create(*RESOURCE)
def create(body: kopf.Body, logger: LoggerLike, **kwargs: Any) -> None:
    scenario_create.handle(runtime.current(), body, logger, **kwargs)


@kopf.on.resume(*RESOURCE)
def resume(body: kopf.Body, logger: LoggerLike, **kwargs: Any) -> None:
    scenario_resume.handle(runtime.current(), body, logger, **kwargs)


@kopf.on.delete(*RESOURCE)
def delete(body: kopf.Body, logger: LoggerLike, **kwargs: Any) -> None:
    scenario_delete.handle(runtime.current(), body, logger, **kwargs)


@kopf.timer(*RESOURCE, interval=CONFIG.tick_seconds, sharp=True, when=_running)
def tick(body: kopf.Body, logger: LoggerLike, **kwargs: Any) -> None:
    scenario_tick.handle(runtime.current(), body, logger, **kwargs)
