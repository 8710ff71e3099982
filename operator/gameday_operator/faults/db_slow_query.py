"""DBSlowQuery: lock contention, a dropped index or heavy queries from a Job; always restored.

The revert deletes the Job, waits for its pod to end, and starts `gameday-chaos db restore` as
its own Job (not owned by the scenario, so deleting the scenario cannot cut the restore short; it
cleans itself up after GAMEDAY_RESTORE_JOB_TTL). The restore ends the injector's backends left
over (found by the application_name both Jobs are given) and recreates a dropped index, and exits
0 only once it has verified them gone and the index back as saved. The revert is done only when
that Job has completed: while it runs the action stays live; when it failed, the action keeps its
reason (the termination message the restore leaves) and the Job is deleted to run again.
"""

from __future__ import annotations

from typing import Any

from gameday_operator import builders
from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.faults import jobs
from gameday_operator.model import Action, DBSlowQuery, Fault

APPLICATION_NAME_ENV = "GAMEDAY_DB_APPLICATION_NAME"


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
        # The application_name of the injector's connections, which the restore ends if left.
        env = {
            APPLICATION_NAME_ENV: f"gameday-{ctx.scenario.uid.replace('-', '')[:10]}-f{fault.index}"
        }
        manifest = builders.job(
            name,
            ctx.namespace,
            ctx.config.chaos_image,
            builders.db_args(p, seconds),
            scenario=ctx.scenario.name,
            pull_policy=ctx.config.chaos_pull_policy,
            deadline_seconds=int(seconds) + 60,
            dsn_secret=secret,
            env=env,
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
            env=env,
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
        left = jobs.pods_left(ctx, action.detail["job"])
        if left:
            # Its own revert is under way; a restore now could pass before it drops anything.
            raise ActuatorError(f"waiting for the injector pod {', '.join(left)} to end")
        restore = action.detail["restore"]
        name = restore["metadata"]["name"]
        ctx.kube.create_job(ctx.namespace, restore)  # False: it is there already
        job = ctx.kube.get_job(ctx.namespace, name)
        ended = None if job is None else jobs.finished(job)
        if ended == "Complete":
            return  # the restore verified the index back and no backend of ours left
        if job is not None and ended == "Failed":
            reason = jobs.failure_reason(ctx, job)
            ctx.kube.delete_job(ctx.namespace, name)  # the next attempt runs it again
            raise ActuatorError(f"restore Job {name} failed: {reason}; it will run again")
        raise ActuatorError(f"restore Job {name} has not completed yet")


ACTUATOR = DBSlowQueryActuator()
