"""NetworkLatency: tc netem in the selected pods (NET_ADMIN in that container only), or the
latency proxy in front of the database through its admin endpoint."""

from __future__ import annotations

from typing import Any

import httpx

from gameday_operator import builders
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.api_errors import describe
from gameday_operator.faults.pods import EphemeralFault
from gameday_operator.model import Action, Fault, JsonDict, LatencyMechanism, NetworkLatency


def _args(fault: Fault, seconds: float, _app: JsonDict) -> list[str]:
    p = fault.params
    assert isinstance(p, NetworkLatency)
    return builders.netem_args(p, seconds)


def _netem_stop(interface: str) -> list[str]:
    # Clear the qdisc first: it is kernel state of the pod's network namespace and would
    # outlive a killed injector. The interface is an argument of the script, never part of it.
    return [
        "sh",
        "-c",
        'tc qdisc del dev "$1" root 2>/dev/null; kill -TERM 1',
        "gameday",
        interface,
    ]


class NetworkLatencyActuator:
    name = "NetworkLatency"
    kinds: tuple[str, ...] = ("NetemContainer", "ProxyLatency")

    def __init__(self) -> None:
        self._netem: dict[str, EphemeralFault] = {}

    def _netem_for(self, interface: str) -> EphemeralFault:
        if interface not in self._netem:
            self._netem[interface] = EphemeralFault(
                self.name, "NetemContainer", _args, net_admin=True, stop=_netem_stop(interface)
            )
        return self._netem[interface]

    def build(self, ctx: Context, item: Any) -> list[Action]:
        fault: Fault = item
        p = fault.params
        assert isinstance(p, NetworkLatency)
        if p.mechanism is LatencyMechanism.NETEM:
            actions = self._netem_for(p.interface).build(ctx, fault)
            return [
                Action(**{**a.__dict__, "detail": {**a.detail, "interface": p.interface}})
                for a in actions
            ]
        assert p.proxy_admin is not None
        return [
            Action(
                id=f"f{fault.index}-proxy",
                at=ctx.now,
                kind="ProxyLatency",
                target=p.proxy_admin,
                detail={
                    "url": p.proxy_admin.rstrip("/") + "/latency",
                    "body": builders.proxy_latency_body(p, ctx.remaining_seconds),
                },
            )
        ]

    def apply(self, ctx: Context, action: Action) -> Action:
        if action.kind == "NetemContainer":
            return self._netem_for(action.detail.get("interface", "eth0")).apply(ctx, action)
        try:
            r = httpx.post(
                action.detail["url"],
                json=action.detail["body"],
                timeout=ctx.config.request_timeout_seconds,
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise ActuatorError(f"latency proxy {action.detail['url']}: {exc}") from exc
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        if action.kind == "NetemContainer":
            self._netem_for(action.detail.get("interface", "eth0")).revert(ctx, action)
            return
        url = action.detail["url"]
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


ACTUATOR = NetworkLatencyActuator()
