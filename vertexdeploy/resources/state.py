"""The state model the planner compares: resources keyed by address, as plain values.

Both sides of a diff use it: the desired state built from a manifest and the live state
read from a backend. Addresses name resources by their logical names:

    model_version.<model>.<fingerprint>   endpoint.<ep>        deployment.<ep>.<name>
    traffic.<ep>                          monitoring.<ep>      batch_job.<name>
    resource_pool.<pool>

(see ``address.py``; each kind's rules live in ``vertexdeploy/kinds/``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertexdeploy.resources.address import Address

Kind = Literal[
    "model_version",
    "resource_pool",
    "endpoint",
    "deployment",
    "traffic",
    "monitoring",
    "batch_job",
]


class Resource(BaseModel):
    """One resource: comparable attributes, and meta that is never compared (server names
    for live resources; artifact source and full spec for desired ones)."""

    model_config = ConfigDict(frozen=True)

    address: str
    kind: Kind
    attrs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, str] = Field(default_factory=dict)

    @property
    def addr(self) -> Address:
        return Address.parse(self.address)

    @property
    def parent(self) -> str:
        """The logical name of the owning endpoint or model (the address's second part)."""
        return self.addr.parent

    @property
    def name(self) -> str:
        """A deployment's or version's own name; for the others, the parent's."""
        return self.addr.name or self.addr.parent


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
