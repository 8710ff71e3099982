"""Acting on NetworkLatency with mechanism Proxy (detail `ProxyLatencySetting`): the latency
proxy in front of the database, through its admin endpoint."""

from __future__ import annotations

import httpx

from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.api_errors import describe
from gameday_operator.faultspec.network_latency import ProxyLatencySetting
from gameday_operator.model.changes import Change


class ProxyLatency:
    """Sets the recorded latency on the proxy; clears it on revert, done once seen cleared."""

    detail_type = ProxyLatencySetting

    def apply(self, ctx: Context, change: Change[ProxyLatencySetting, None]) -> None:
        d = change.detail
        try:
            r = httpx.post(d.url, json=d.body, timeout=ctx.config.request_timeout_seconds)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise ActuatorError(f"latency proxy {d.url}: {exc}") from exc

    def revert(self, ctx: Context, change: Change[ProxyLatencySetting, None]) -> None:
        url = change.detail.url
        try:
            r = httpx.delete(url, timeout=ctx.config.request_timeout_seconds)
            if r.status_code == 404:
                return  # no latency endpoint there (any more): nothing it could add
            r.raise_for_status()
            # Reverted only once the proxy is seen adding nothing (a DELETE answered is not yet
            # an effect observed gone: another replica, or a proxy that ignores it, may not be).
            seen = httpx.get(url, timeout=ctx.config.request_timeout_seconds)
            seen.raise_for_status()
            setting = seen.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ActuatorError(f"latency proxy {url}: {describe(exc)}") from exc
        if not isinstance(setting, dict) or setting.get("active") or setting.get("latency_ms"):
            raise ActuatorError(
                f"latency proxy {url} still adds latency after the revert: {setting}"
            )


ACTUATOR = ProxyLatency()
