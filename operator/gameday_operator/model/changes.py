"""Each action kind's record as typed values: what it writes in `status.actions[].detail` and
`.previous`, and how it is read back. Pure.

`status.actions[]` keeps the JSON as it was recorded (`Action.detail`, `Action.previous`): that
JSON is what the seal covers (gameday_operator.seal), so it never changes shape behind a running
scenario. A planner builds the typed detail and `ActionKind.action` serialises it (`to_dict`);
the actuator that applies or reverts it gets it back typed, read once at the edge
(`ActionKind.read`, each type's `from_dict` beside its `to_dict`). A record that does not read
(a key missing, a value of the wrong type) is an ActuatorError that names the action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, get_type_hints

from gameday_operator.model.enums import JsonDict
from gameday_operator.model.reader import Reader, SpecError
from gameday_operator.model.status import Action


class ActuatorError(RuntimeError):
    """A change could not be planned, read back or made; the message says what and why."""


class RevertPending(ActuatorError):
    """A revert under way across ticks (a cleanup container added and not yet exited): not
    done and not failed; the message says where it stands, and the next tick goes on."""


class Record(Protocol):
    """A recorded detail or previous, serialised both ways."""

    def to_dict(self) -> JsonDict: ...

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        """The value `to_dict` wrote (or the API server gave back: null values dropped, whole
        numbers without their fraction); SpecError names the field that does not read."""
        ...


# Field metadata: the field is left out of the record when it is None or empty (else a None
# is written as null, as the operator has always recorded it).
OMITTED_WHEN_EMPTY = {"omitted_when_empty": True}

_MAX_INT = 2**31 - 1
_READ: dict[object, Callable[[Reader, str, Any], object]] = {
    str: lambda r, key, default: r.str_(key, default),
    str | None: lambda r, key, _: r.opt_str(key),
    int: lambda r, key, default: r.int_(key, default, 0, _MAX_INT),
    int | None: lambda r, key, _: r.int_(key, None, 0, _MAX_INT) if r.has(key) else None,
    bool: lambda r, key, default: r.bool_(key, default),
    JsonDict: lambda r, key, _: r.mapping(key),
    JsonDict | None: lambda r, key, _: r.opt_mapping(key),
    tuple[str, ...]: lambda r, key, _: r.strings(key),
}


def _key(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


class Recorded:
    """Base of the record types: frozen dataclasses whose fields are recorded in their order
    under their names in camelCase (`restarted_at` → `restartedAt`), and read back by type.

    A type whose record has another shape writes its own `to_dict` and `from_dict`."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    # What the record is in `status.actions[]`, as its errors name it.
    RECORDED_AS: ClassVar[str] = "detail"

    def to_dict(self) -> JsonDict:
        out: JsonDict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("omitted_when_empty") and value in (None, ()):
                continue
            out[_key(f.name)] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        r = Reader(raw, cls.RECORDED_AS)
        values = {
            f.name: read(r, _key(f.name), None if f.default is MISSING else f.default)
            for f, read in _readers(cls)
        }
        return cls(**values)


FieldReaders = tuple[tuple[Field[Any], Callable[..., object]], ...]
_FIELD_READERS: dict[type[Recorded], FieldReaders] = {}


def _readers(cls: type[Recorded]) -> FieldReaders:
    """Each field of a record type with the reader of its type; TypeError for a type that
    no reader reads (found when the kind is declared, not when an action is read back)."""
    if cls not in _FIELD_READERS:
        types = get_type_hints(cls)
        found = []
        for f in fields(cls):
            read = _READ.get(types[f.name])
            if read is None:
                raise TypeError(f"{cls.__name__}.{f.name}: no reader for {types[f.name]}")
            found.append((f, read))
        _FIELD_READERS[cls] = tuple(found)
    return _FIELD_READERS[cls]


class RecordedBefore(Recorded):
    """Base of the types of `previous`: what a change replaced."""

    RECORDED_AS = "previous"


D = TypeVar("D", bound=Record)
Pv = TypeVar("Pv", bound=Record | None)
D_co = TypeVar("D_co", bound=Record, covariant=True)
Pv_co = TypeVar("Pv_co", bound=Record | None, covariant=True)
D_prev = TypeVar("D_prev", bound=Record)


@dataclass(frozen=True)
class Change(Generic[D_co, Pv_co]):
    """One recorded action as its actuator reads it: the detail and what it replaced, typed."""

    id: str
    target: str
    detail: D_co
    previous: Pv_co


@dataclass(frozen=True)
class ActionKind(Generic[D, Pv]):
    """One kind of change: its name in `status.actions[].kind` and the types of its record.

    `detail` is the type of its detail; the actuator of the kind is the one registered for that
    type (or its nearest base: gameday_operator.actuators)."""

    name: str
    detail: type[D]
    read_previous: Callable[[object], Pv]

    def __post_init__(self) -> None:
        if issubclass(self.detail, Recorded):
            _readers(self.detail)

    def action(self, id: str, target: str, detail: D, previous: Pv, at: datetime) -> Action:
        """The action to record, its detail and previous as the JSON `read` reads back."""
        return Action(
            id=id,
            at=at,
            kind=self.name,
            target=target,
            detail=detail.to_dict(),
            previous=None if previous is None else previous.to_dict(),
        )

    def read(self, action: Action) -> Change[D, Pv]:
        """The recorded action typed; ActuatorError if its record does not read."""
        try:
            return Change(
                id=action.id,
                target=action.target,
                detail=self.detail.from_dict(action.detail),
                previous=self.read_previous(action.previous),
            )
        except SpecError as exc:
            raise ActuatorError(
                f"{action.kind} {action.id} on {action.target}: the record does not read: {exc}"
            ) from None


def _none(raw: object) -> None:
    if raw is not None:
        raise SpecError("previous is recorded for a kind that replaces nothing")


def kind(name: str, detail: type[D]) -> ActionKind[D, None]:
    """A kind whose revert needs nothing but its detail (no `previous`)."""
    return ActionKind(name, detail, _none)


def replacing(name: str, detail: type[D], previous: type[D_prev]) -> ActionKind[D, D_prev]:
    """A kind that records what it replaced (`previous`), for its revert to put back."""

    if issubclass(previous, Recorded):
        _readers(previous)

    def read_previous(raw: object) -> D_prev:
        if not isinstance(raw, Mapping):
            raise SpecError("previous must be recorded")
        return previous.from_dict(raw)

    return ActionKind(name, detail, read_previous)
