"""Shared by the faults that run as a Job (load, database)."""

from __future__ import annotations

import copy
from typing import cast

import kopf

from gameday_operator.actuators import Context
from gameday_operator.model import Action, JsonDict


def create_owned(ctx: Context, manifest: JsonDict) -> None:
    """Create the Job owned by the scenario (garbage-collected with it); 409 is fine."""
    body = copy.deepcopy(manifest)
    kopf.adopt(body, owner=cast(kopf.Body, dict(ctx.body)))
    ctx.kube.create_job(ctx.namespace, body)


def delete(ctx: Context, action: Action) -> None:
    ctx.kube.delete_job(ctx.namespace, action.detail["job"])
