"""The operator's configuration: one typed object read from GAMEDAY_* environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gameday_operator.allow_list import prefix_problem
from gameday_operator.units import parse_duration


class ConfigError(ValueError):
    """A GAMEDAY_* variable is set to something the operator cannot use."""


@dataclass(frozen=True)
class Config:
    """Every knob of the operator, with its GAMEDAY_* variable and default.

    chaos_image            GAMEDAY_CHAOS_IMAGE              localhost/gameday-chaos:dev
    chaos_pull_policy      GAMEDAY_CHAOS_PULL_POLICY        IfNotPresent
    tick_seconds           GAMEDAY_TICK_INTERVAL            2s   how often the phase machine runs
    sample_interval        GAMEDAY_SAMPLE_INTERVAL          5s   spacing of status.samples
    sample_write_interval  GAMEDAY_SAMPLE_WRITE_INTERVAL    0s   new samples alone are written at
                                                                 most this often (0: each at once)
    max_observation_failures GAMEDAY_MAX_OBSERVATION_FAILURES 5  bad observations in a row → Failed
    prometheus_url         GAMEDAY_PROMETHEUS_URL           ""   default steadyState.prometheus.url
    watch_timeout_seconds  GAMEDAY_WATCH_TIMEOUT            5m   server-side watch timeout
    request_timeout_seconds GAMEDAY_REQUEST_TIMEOUT         30s  client timeout of every API call
    require_namespace_label GAMEDAY_REQUIRE_NAMESPACE_LABEL true gameday.io/enabled=true needed
    restore_job_ttl_seconds GAMEDAY_RESTORE_JOB_TTL         10m  how long finished restore Jobs stay
    revert_timeout_seconds GAMEDAY_REVERT_TIMEOUT           5m   a deleted scenario's failing revert
                                                                 is given up after this
    metrics_port           GAMEDAY_METRICS_PORT             8081 the operator's /metrics (0: off)
    allowed_urls           GAMEDAY_ALLOWED_URLS             ""   URL prefixes a scenario may name
    cluster_domain         GAMEDAY_CLUSTER_DOMAIN           cluster.local  the cluster's DNS domain
                                                                 beyond its own namespace's Services
    confine_metrics        GAMEDAY_CONFINE_METRICS          true every query carries the scenario's
                                                                 namespace="<ns>" (metric_scope)
    status_key             GAMEDAY_STATUS_KEY               ""   HMAC key sealing status.actions,
                                                                 32+ characters; "": a dev key
    workers                GAMEDAY_WORKERS                  64   threads running ticks and
                                                                 handlers (and API connections)
    """

    chaos_image: str = "localhost/gameday-chaos:dev"
    chaos_pull_policy: str = "IfNotPresent"
    tick_seconds: float = 2.0
    sample_interval_seconds: float = 5.0
    # Many scenarios at once: a status write per scenario per sample is most of what the
    # operator asks of the API server (docs/scale.md). Anything else that changes goes out at
    # once, with the samples held so far.
    sample_write_interval_seconds: float = 0.0
    max_observation_failures: int = 5
    prometheus_url: str = ""
    watch_timeout_seconds: float = 300.0
    request_timeout_seconds: float = 30.0
    require_namespace_label: bool = True
    restore_job_ttl_seconds: float = 600.0
    revert_timeout_seconds: float = 300.0
    metrics_port: int = 8081
    allowed_urls: tuple[str, ...] = ()
    # Service URLs are written fully qualified (name.ns.svc.<domain>.), so that no search
    # domain is tried first: name.ns.svc.svc.<domain> would be a record of namespace "svc".
    cluster_domain: str = "cluster.local"
    # False only where Prometheus has no namespace label (then no query can be confined).
    confine_metrics: bool = True
    status_key: str = field(default="", repr=False)  # a secret: never in the startup log
    # Ticks block on the API server and Prometheus: a tick waiting for a slow answer holds a
    # thread, and the others must not wait for it (kopf's default pool is the CPUs + 4).
    workers: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        e = os.environ if env is None else env

        def dur(name: str, default: float, lo: float, hi: float) -> float:
            raw = e.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = parse_duration(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a duration such as 2s or 5m") from None
            if not lo <= value <= hi:
                raise ConfigError(f"{name}={raw!r} must be between {lo:g}s and {hi:g}s")
            return value

        pull = e.get("GAMEDAY_CHAOS_PULL_POLICY") or cls.chaos_pull_policy
        if pull not in ("Always", "IfNotPresent", "Never"):
            raise ConfigError(
                f"GAMEDAY_CHAOS_PULL_POLICY={pull!r} must be Always, IfNotPresent or Never"
            )
        failures_raw = e.get("GAMEDAY_MAX_OBSERVATION_FAILURES") or str(
            cls.max_observation_failures
        )
        if not failures_raw.isdigit() or not 1 <= int(failures_raw) <= 1000:
            raise ConfigError(
                f"GAMEDAY_MAX_OBSERVATION_FAILURES={failures_raw!r} must be an integer 1-1000"
            )
        label_raw = (e.get("GAMEDAY_REQUIRE_NAMESPACE_LABEL") or "true").lower()
        if label_raw not in ("true", "false"):
            raise ConfigError(
                f"GAMEDAY_REQUIRE_NAMESPACE_LABEL={label_raw!r} must be true or false"
            )
        confine_raw = (e.get("GAMEDAY_CONFINE_METRICS") or "true").lower()
        if confine_raw not in ("true", "false"):
            raise ConfigError(f"GAMEDAY_CONFINE_METRICS={confine_raw!r} must be true or false")
        port_raw = e.get("GAMEDAY_METRICS_PORT") or str(cls.metrics_port)
        if not port_raw.isdigit() or not 0 <= int(port_raw) <= 65535:
            raise ConfigError(f"GAMEDAY_METRICS_PORT={port_raw!r} must be a port number or 0")
        workers_raw = e.get("GAMEDAY_WORKERS") or str(cls.workers)
        if not workers_raw.isdigit() or not 1 <= int(workers_raw) <= 1000:
            raise ConfigError(f"GAMEDAY_WORKERS={workers_raw!r} must be an integer 1-1000")
        domain = (e.get("GAMEDAY_CLUSTER_DOMAIN") or cls.cluster_domain).rstrip(".")
        if not _DNS_NAME.fullmatch(domain):
            raise ConfigError(f"GAMEDAY_CLUSTER_DOMAIN={domain!r} is not a DNS name")
        return cls(
            chaos_image=e.get("GAMEDAY_CHAOS_IMAGE") or cls.chaos_image,
            chaos_pull_policy=pull,
            tick_seconds=dur("GAMEDAY_TICK_INTERVAL", cls.tick_seconds, 0.2, 60),
            sample_interval_seconds=dur(
                "GAMEDAY_SAMPLE_INTERVAL", cls.sample_interval_seconds, 0, 3600
            ),
            sample_write_interval_seconds=dur(
                "GAMEDAY_SAMPLE_WRITE_INTERVAL", cls.sample_write_interval_seconds, 0, 600
            ),
            max_observation_failures=int(failures_raw),
            prometheus_url=e.get("GAMEDAY_PROMETHEUS_URL") or "",
            watch_timeout_seconds=dur("GAMEDAY_WATCH_TIMEOUT", cls.watch_timeout_seconds, 1, 3600),
            request_timeout_seconds=dur(
                "GAMEDAY_REQUEST_TIMEOUT", cls.request_timeout_seconds, 1, 600
            ),
            require_namespace_label=label_raw == "true",
            restore_job_ttl_seconds=dur(
                "GAMEDAY_RESTORE_JOB_TTL", cls.restore_job_ttl_seconds, 0, 86400
            ),
            revert_timeout_seconds=dur(
                "GAMEDAY_REVERT_TIMEOUT", cls.revert_timeout_seconds, 10, 86400
            ),
            metrics_port=int(port_raw),
            allowed_urls=_url_prefixes(e.get("GAMEDAY_ALLOWED_URLS") or ""),
            status_key=e.get("GAMEDAY_STATUS_KEY") or "",
            cluster_domain=domain,
            confine_metrics=confine_raw == "true",
            workers=int(workers_raw),
        )


_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*")


def _url_prefixes(raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URL prefixes (`allow_list.prefix_problem` says which may be one);
    a bad one is a ConfigError."""
    prefixes = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        problem = prefix_problem(item)
        if problem is not None:
            raise ConfigError(f"GAMEDAY_ALLOWED_URLS entry {item!r} {problem}")
        prefixes.append(item)
    return tuple(prefixes)
