"""Seals on recorded actions: what they cover, what breaks them, and what does not."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gameday_operator import seal
from gameday_operator.model import Action, ActionState, Status, parse_status

KEY = b"k" * 32
UID = "0123456789-abcdef"
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACTION = Action(
    id="r-resize",
    at=T0,
    kind="VerticalResize",
    target="deployment/web",
    detail={"container": "app", "resources": {"limits": {"cpu": "1"}}, "weight": 0.5},
    previous={"resources": {"limits": {"cpu": "500m"}}},
    state=ActionState.APPLIED,
)
SEALED = seal.sealed(KEY, UID, ACTION)


def test_the_canonical_form_is_sorted_compact_json_of_the_sealed_fields() -> None:
    assert json.loads(seal.canonical(UID, ACTION)) == {
        "version": "v2",
        "scenario": UID,
        "id": "r-resize",
        "kind": "VerticalResize",
        "target": "deployment/web",
        "detail": {"container": "app", "resources": {"limits": {"cpu": "1"}}, "weight": 0.5},
        "previous": {"resources": {"limits": {"cpu": "500m"}}},
        "state": "Applied",
    }
    text = seal.canonical(UID, ACTION).decode()
    assert ": " not in text and ", " not in text
    assert text.index('"detail"') < text.index('"id"') < text.index('"kind"')


def test_the_canonical_form_does_not_depend_on_key_order() -> None:
    shuffled = replace(ACTION, detail=dict(reversed(list(ACTION.detail.items()))))
    assert seal.canonical(UID, shuffled) == seal.canonical(UID, ACTION)


def test_whole_floats_are_sealed_as_the_api_server_returns_them() -> None:
    floats = replace(ACTION, detail={"n": 2.0, "list": [1.0, 1.5], "deep": {"x": 3.0}})
    ints = replace(ACTION, detail={"n": 2, "list": [1, 1.5], "deep": {"x": 3}})
    assert seal.canonical(UID, floats) == seal.canonical(UID, ints)


def test_a_null_value_is_sealed_as_an_absent_key() -> None:
    nulls = replace(ACTION, detail={"strategy": None, "deep": {"at": None, "n": 1}, "l": [None]})
    absent = replace(ACTION, detail={"deep": {"n": 1}, "l": [None]})
    assert seal.canonical(UID, nulls) == seal.canonical(UID, absent)


def test_a_sealed_action_verifies_and_survives_the_status_round_trip() -> None:
    assert SEALED.seal.startswith("v2:") and len(SEALED.seal) == 3 + 22
    assert seal.verifies(KEY, UID, SEALED)
    raw = json.loads(json.dumps(Status(actions=(SEALED,)).to_dict()))
    (back,) = parse_status(raw).actions
    assert back.seal == SEALED.seal and seal.verifies(KEY, UID, back)


EDITS: list[tuple[str, dict[str, Any]]] = [
    ("id", {"id": "r-other"}),
    ("kind", {"kind": "HPAScaleOut"}),
    ("target", {"target": "deployment/payments"}),
    ("detail value", {"detail": {**ACTION.detail, "container": "sidecar"}}),
    ("detail key added", {"detail": {**ACTION.detail, "image": "evil.example/miner"}}),
    ("detail emptied", {"detail": {}}),
    ("previous", {"previous": {"resources": {"limits": {"cpu": "64"}}}}),
    ("previous dropped", {"previous": None}),
    ("state back to Pending", {"state": ActionState.PENDING}),
    ("state to Reverted", {"state": ActionState.REVERTED}),
]


@pytest.mark.parametrize("change", [c for _, c in EDITS], ids=[n for n, _ in EDITS])
def test_every_sealed_field_breaks_the_seal_when_changed(change: dict[str, Any]) -> None:
    assert not seal.verifies(KEY, UID, replace(SEALED, **change))


RECORD_ONLY: list[tuple[str, dict[str, Any]]] = [
    ("at", {"at": T0 + timedelta(hours=1)}),
    ("error", {"error": "written by a person"}),
    ("revertedAt", {"reverted_at": T0}),
    ("durationSeconds", {"duration_seconds": 9.0}),
]


@pytest.mark.parametrize("change", [c for _, c in RECORD_ONLY], ids=[n for n, _ in RECORD_ONLY])
def test_fields_that_drive_nothing_are_not_sealed(change: dict[str, Any]) -> None:
    assert seal.verifies(KEY, UID, replace(SEALED, **change))


def test_another_key_or_another_scenario_does_not_verify() -> None:
    assert not seal.verifies(b"x" * 32, UID, SEALED)
    assert not seal.verifies(KEY, "another-uid", SEALED)  # copied from another scenario


def test_a_missing_malformed_or_other_version_seal_does_not_verify() -> None:
    digest = SEALED.seal.split(":", 1)[1]
    for bad in ("", "v2:", digest, f"v1:{digest}", f"v3:{digest}", SEALED.seal + "0"):
        assert not seal.verifies(KEY, UID, replace(SEALED, seal=bad)), bad


def test_a_seal_an_earlier_operator_wrote_still_verifies() -> None:
    """v1 (the whole HMAC in hex), so that a run recorded before an upgrade is carried on."""
    v1 = replace(SEALED, seal=seal.compute(KEY, UID, SEALED, "v1"))
    assert v1.seal.startswith("v1:") and len(v1.seal) == 3 + 64
    assert seal.verifies(KEY, UID, v1)
    assert not seal.verifies(KEY, UID, replace(v1, target="deployment/payments"))
    assert not seal.verifies(KEY, UID, replace(v1, seal=v1.seal.replace("v1:", "v2:")))


def test_altered_names_the_positions_that_do_not_verify() -> None:
    edited = replace(SEALED, target="deployment/payments")
    unsealed = replace(SEALED, id="added", seal="")
    assert seal.altered(KEY, UID, (SEALED, edited, SEALED, unsealed)) == (1, 3)
    assert seal.altered(KEY, UID, ()) == ()


def test_an_empty_key_is_the_development_key_and_a_short_one_is_refused() -> None:
    assert seal.key_from("") == seal.DEVELOPMENT_KEY
    assert seal.key_from("a" * 64) == b"a" * 64
    with pytest.raises(seal.SealKeyError, match="has 31 characters; it needs at least 32"):
        seal.key_from("a" * 31)


def test_an_operator_in_a_pod_refuses_to_run_with_the_development_key() -> None:
    with pytest.raises(seal.SealKeyError, match="GAMEDAY_STATUS_KEY is empty in a pod"):
        seal.key_from("", in_cluster=True)
    assert seal.key_from("a" * 64, in_cluster=True) == b"a" * 64
