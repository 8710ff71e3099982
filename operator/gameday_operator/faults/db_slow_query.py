"""DBSlowQuery: lock contention, a dropped index or heavy queries from a Job; always restored.

The revert deletes the Job and starts `gameday-chaos db restore` as its own Job (not owned by
the scenario, so deleting the scenario cannot cut the restore short; it cleans itself up after
GAMEDAY_RESTORE_JOB_TTL).
"""

from __future__ import annotations

from typing import Any

from gameday_operator import builders
from gameday_operator.actuators import Context
from gameday_operator.faults import jobs
from gameday_operator.model import Action, DBSlowQuery, Fault


class DBSlowQueryActuator:
    name = "DBSlowQuery"
    kinds: tuple[str, ...] = ("DBJob",)

    def build(self, ctx: Context, item: Any) -> list[Action]:
        fault: Fault = item
        p = fault.params
        assert isinstance(p, DBSlowQuery)
        seconds = ctx.remaining_seconds
        name = builders.job_name(ctx.scenario.name, ctx.scenario.uid, fault.index, "db")
        secret = (p.secret_name, p.secret_key)
        manifest = builders.job(
            name,
            ctx.namespace,
            ctx.config.chaos_image,
            builders.db_args(p, seconds),
            scenario=ctx.scenario.name,
            pull_policy=ctx.config.chaos_pull_policy,
            deadline_seconds=int(seconds) + 60,
            dsn_secret=secret,
        )
        restore = builders.job(
            builders.job_name(ctx.scenario.name, ctx.scenario.uid, fault.index, "restore"),
            ctx.namespace,
            ctx.config.chaos_image,
            builders.db_restore_args(),
            scenario=ctx.scenario.name,
            pull_policy=ctx.config.chaos_pull_policy,
            deadline_seconds=600,
            dsn_secret=secret,
            ttl_seconds_after_finished=int(ctx.config.restore_job_ttl_seconds),
        )
        return [
            Action(
                id=f"f{fault.index}-job",
                at=ctx.now,
                kind="DBJob",
                target=f"job/{name}",
                detail={"job": name, "manifest": manifest, "restore": restore},
            )
        ]

    def apply(self, ctx: Context, action: Action) -> Action:
        jobs.create_owned(ctx, action.detail["manifest"])
        return action

    def revert(self, ctx: Context, action: Action) -> None:
        jobs.delete(ctx, action)
        ctx.kube.create_job(ctx.namespace, action.detail["restore"])


ACTUATOR = DBSlowQueryActuator()
