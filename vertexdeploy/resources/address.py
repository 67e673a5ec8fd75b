"""Typed resource addresses: ``kind.parent[.name]``, parsed once instead of split everywhere.

    model_version.<model>.<fingerprint>   endpoint.<ep>         deployment.<ep>.<name>
    traffic.<ep>                          monitoring.<ep>       batch_job.<job>
    resource_pool.<pool>

Logical names never contain a dot (the manifest's name pattern), so the three parts are
unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Address:
    kind: str
    parent: str  # the model, endpoint, job or pool the resource belongs to (or is)
    name: str = ""  # a version's fingerprint or a deployment's name; empty otherwise

    def __str__(self) -> str:
        return ".".join(p for p in (self.kind, self.parent, self.name) if p)

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, _, rest = text.partition(".")
        parent, _, name = rest.partition(".")
        if not kind or not parent:
            raise ValueError(f"not a resource address: {text!r}")
        return cls(kind, parent, name)
