"""A Plan: a frozen, serialisable list of Changes in the order they must run."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Action(str, Enum):
    NOOP = "noop"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


class Change(BaseModel):
    """One resource's change. ``reason`` is for people only; nothing acts on it."""

    model_config = ConfigDict(frozen=True)

    address: str
    kind: str
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    live_meta: dict[str, str] = Field(default_factory=dict)
    desired_meta: dict[str, str] = Field(default_factory=dict)
    changed: tuple[str, ...] = ()
    forces_replace: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    reason: str = ""


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    format_version: int = 1
    stack: str
    target: str
    project: str
    region: str
    live_fingerprint: str
    manifest_files: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()  # for people: e.g. traffic held by a promotion
    # False for `plan --offline`: nothing was read, so "create" means "not compared".
    live_state_read: bool = True

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    def counts(self) -> dict[str, int]:
        c = Counter(ch.action.value for ch in self.changes)
        return {a.value: c.get(a.value, 0) for a in Action}

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)
