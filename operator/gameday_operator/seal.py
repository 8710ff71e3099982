"""Seals on recorded actions: the status is a record, not a command channel.

Whoever may patch `failurescenarios/status` may edit `status.actions[]`, and the operator
applies and reverts what is recorded there. Each action the operator records carries an
HMAC-SHA256 (`seal`) over a canonical JSON of every field that decides what is applied or
reverted, keyed with GAMEDAY_STATUS_KEY and bound to the scenario's UID, so that an action
edited, added or copied from another scenario outside the operator is recognised as such.

Pure: no I/O, no clock. The shell seals what it records and verifies before it acts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace

from gameday_operator.model import Action

# What an empty GAMEDAY_STATUS_KEY falls back to: every process then shares a key that is in
# this file, so seals still detect edits by mistake but not by someone who reads the source.
# The shell logs a Warning when it is used.
DEVELOPMENT_KEY = b"gameday development status key: not for a shared cluster"
MIN_KEY_LENGTH = 32  # characters; `make deploy` generates 64 hex digits
# The seal written: v2 is the HMAC's first 128 bits in unpadded base64url (22 characters; a
# status records one seal per pod of a pod fault, so they count towards the object's size,
# and RFC 2104 allows truncating an HMAC to half its length). v1, the whole HMAC in hex, was
# written by earlier operators and still verifies, so that a run recorded by one is carried on
# by the next. Any other version does not verify.
VERSION = "v2"
VERSIONS = ("v1", "v2")


class SealKeyError(ValueError):
    """GAMEDAY_STATUS_KEY is set to something too weak to seal with."""


def key_from(configured: str, *, in_cluster: bool = False) -> bytes:
    """The HMAC key for GAMEDAY_STATUS_KEY; empty means the development key, which an
    operator running in a cluster (a shared one, as far as it can tell) refuses."""
    if not configured and in_cluster:
        raise SealKeyError(
            "GAMEDAY_STATUS_KEY is empty in a pod: the development key is in the source, so "
            "anyone who may patch failurescenarios/status could forge the operator's records; "
            "set it from the Secret gameday-status-key (make deploy creates it)"
        )
    if not configured:
        return DEVELOPMENT_KEY
    if len(configured) < MIN_KEY_LENGTH:
        raise SealKeyError(
            f"GAMEDAY_STATUS_KEY has {len(configured)} characters; it needs at least "
            f"{MIN_KEY_LENGTH} (make deploy creates one: openssl rand -hex 32)"
        )
    return configured.encode()


def _normalised(value: object) -> object:
    """The value as it comes back from the API server, so that a seal survives the round trip.

    The API server decodes JSON numbers into int64 when they are whole and re-encodes a whole
    float64 without its fraction: 2.0 is read back as 2. A key whose value is null counts as
    absent, however the server keeps it: every actuator reads the two alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalised(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value


def canonical(scenario_uid: str, action: Action, version: str = VERSION) -> bytes:
    """The sealed bytes: every field an actuator or the shell reads to apply or revert.

    `state` is in because it decides whether an action is applied again (Pending) or
    reverted (live); `at`, `error`, `revertedAt` and `durationSeconds` are a record for
    people and change nothing the operator does."""
    fields = {
        "version": version,
        "scenario": scenario_uid,
        "id": action.id,
        "kind": action.kind,
        "target": action.target,
        "detail": _normalised(action.detail),
        "previous": _normalised(action.previous),
        "state": action.state.value,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute(key: bytes, scenario_uid: str, action: Action, version: str = VERSION) -> str:
    mac = hmac.new(key, canonical(scenario_uid, action, version), hashlib.sha256).digest()
    if version == "v1":
        return f"v1:{mac.hex()}"
    return f"{version}:{base64.urlsafe_b64encode(mac[:16]).decode().rstrip('=')}"


def sealed(key: bytes, scenario_uid: str, action: Action) -> Action:
    """The action with its seal: call it for every action the operator itself records."""
    return replace(action, seal=compute(key, scenario_uid, action))


def verifies(key: bytes, scenario_uid: str, action: Action) -> bool:
    """Whether the operator recorded the action as it stands; a missing seal never verifies
    (statuses of an operator that did not seal are refused too)."""
    version = action.seal.split(":", 1)[0]
    if version not in VERSIONS:
        return False
    return hmac.compare_digest(action.seal, compute(key, scenario_uid, action, version))


def altered(key: bytes, scenario_uid: str, actions: tuple[Action, ...]) -> tuple[int, ...]:
    """Positions in `status.actions` of the actions whose seal does not verify."""
    return tuple(n for n, a in enumerate(actions) if not verifies(key, scenario_uid, a))
