"""Acting on DBSlowQuery (detail `DBInjection`): the injector's Job, always restored.

The revert deletes the Job, waits for its pod to end, and starts `gameday-chaos db restore` as
its own Job (not owned by the scenario, so deleting the scenario cannot cut the restore short; it
cleans itself up after GAMEDAY_RESTORE_JOB_TTL). The restore ends the injector's backends left
over (found by the application_name both Jobs are given) and recreates a dropped index, and exits
0 only once it has verified them gone and the index back as saved. The revert is done only when
that Job has completed: while it runs the action stays live; when it failed, the action keeps its
reason (the termination message the restore leaves) and the Job is deleted to run again.
"""

from __future__ import annotations

from gameday_operator.actuators import ActuatorError, Context
from gameday_operator.faults import jobs
from gameday_operator.faultspec.db_slow_query import DBInjection
from gameday_operator.model.changes import Change


class DBInjector:
    detail_type = DBInjection

    def apply(self, ctx: Context, change: Change[DBInjection, None]) -> None:
        jobs.JOB.apply(ctx, change)

    def revert(self, ctx: Context, change: Change[DBInjection, None]) -> None:
        # Until the injector's pod has ended (its own revert under way), a restore could pass
        # before the injector drops anything: this raises while it runs.
        jobs.JOB.revert(ctx, change)
        restore = change.detail.restore
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


ACTUATOR = DBInjector()
