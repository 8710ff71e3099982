"""TrafficSpike: an open-loop HTTP load from a Job running `gameday-chaos load`."""

from __future__ import annotations

from typing import Any

from gameday_operator import builders
from gameday_operator.actuators import Context
from gameday_operator.faults import jobs
from gameday_operator.model import Action, Fault, TrafficSpike


class TrafficSpikeActuator:
    name = "TrafficSpike"
    kinds: tuple[str, ...] = ("LoadJob",)

    def build(self, ctx: Context, item: Any) -> list[Action]:
        fault: Fault = item
        p = fault.params
        assert isinstance(p, TrafficSpike)
        seconds = min(p.duration_seconds or ctx.remaining_seconds, ctx.remaining_seconds)
        name = builders.job_name(ctx.scenario.name, ctx.scenario.uid, fault.index, "load")
        manifest = builders.job(
            name,
            ctx.namespace,
            ctx.config.chaos_image,
            builders.load_args(p, seconds),
            scenario=ctx.scenario.name,
            pull_policy=ctx.config.chaos_pull_policy,
            deadline_seconds=int(seconds) + 60,
        )
        return [
            Action(
                id=f"f{fault.index}-job",
                at=ctx.now,
                kind="LoadJob",
                target=f"job/{name}",
                detail={"job": name, "manifest": manifest},
            )
        ]

    def apply(self, ctx: Context, action: Action) -> Action:
        jobs.create_owned(ctx, action.detail["manifest"])
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        jobs.delete(ctx, action)


ACTUATOR = TrafficSpikeActuator()
