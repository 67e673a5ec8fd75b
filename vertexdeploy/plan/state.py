"""The state model the planner compares: resources keyed by address, as plain values.

Both sides of a diff use it: the desired state built from a manifest and the live state
read from a backend. Addresses name resources by their logical names:

    model_version.<model>.<fingerprint>   endpoint.<ep>        deployment.<ep>.<name>
    traffic.<ep>                          monitoring.<ep>      batch_job.<name>
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["model_version", "endpoint", "deployment", "traffic", "monitoring", "batch_job"]

# Position of each kind in the dependency order; deletes walk it backwards.
KIND_ORDER: dict[str, int] = {
    "model_version": 0,
    "endpoint": 1,
    "deployment": 2,
    "traffic": 3,
    "monitoring": 4,
    "batch_job": 5,
}


class Resource(BaseModel):
    """One resource: comparable attributes, and meta that is never compared (server names
    for live resources; artifact source and full spec for desired ones)."""

    model_config = ConfigDict(frozen=True)

    address: str
    kind: Kind
    attrs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, str] = Field(default_factory=dict)

    @property
    def parent(self) -> str:
        """The logical name of the owning endpoint or model (the address's second part)."""
        return self.address.split(".")[1]

    @property
    def name(self) -> str:
        return self.address.split(".")[-1]


class LiveState(BaseModel):
    """A frozen snapshot of what exists, keyed by address."""

    model_config = ConfigDict(frozen=True)

    resources: dict[str, Resource] = Field(default_factory=dict)

    @classmethod
    def of(cls, resources: list[Resource]) -> LiveState:
        return cls(resources={r.address: r for r in resources})

    def fingerprint(self) -> str:
        """A digest of everything the planner compares, to spot a stale saved plan."""
        blob = json.dumps(
            {a: [r.attrs, r.meta] for a, r in sorted(self.resources.items())},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.kind == kind]


DesiredState = LiveState
