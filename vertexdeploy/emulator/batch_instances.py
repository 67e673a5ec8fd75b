"""``instanceConfig`` of a batch job applied to JSON object instances, as Vertex applies it.

``keyField`` is taken out of each instance and written back as ``"key"`` beside the
prediction; ``includedFields`` keeps (and orders) fields, ``excludedFields`` drops them;
``instanceType: array`` sends the remaining values as a list. Only jsonl objects are
transformed: csv rows already reach the model as arrays and pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_KEY = object()


@dataclass(frozen=True)
class Shaped:
    """One instance ready for the model, and its key (``NO_KEY`` when none is configured)."""

    instance: Any
    key: Any = NO_KEY


def active(cfg: dict[str, Any]) -> bool:
    """Whether ``cfg`` changes instances at all."""
    return bool(
        cfg.get("keyField")
        or cfg.get("includedFields")
        or cfg.get("excludedFields")
        or cfg.get("instanceType") == "array"
    )


def shape(instance: Any, cfg: dict[str, Any]) -> Shaped:
    """The instance the model sees; ``ValueError`` says why a row cannot be shaped."""
    if not active(cfg):
        return Shaped(instance)
    if not isinstance(instance, dict):
        raise ValueError("instanceConfig fields apply to JSON object instances only")
    fields = dict(instance)
    key: Any = NO_KEY
    key_field = cfg.get("keyField")
    if key_field:
        if key_field not in fields:
            raise ValueError(f"instance has no key field {key_field!r}")
        key = fields.pop(key_field)
    included = [f for f in cfg.get("includedFields") or [] if f != key_field]
    if included:
        missing = [f for f in included if f not in fields]
        if missing:
            raise ValueError(f"instance lacks included fields {missing}")
        fields = {f: fields[f] for f in included}
    for name in cfg.get("excludedFields") or []:
        fields.pop(name, None)
    shaped: Any = list(fields.values()) if cfg.get("instanceType") == "array" else fields
    return Shaped(shaped, key)


def output_line(shaped: Shaped, prediction: Any) -> dict[str, Any]:
    """Vertex's jsonl output line: ``{"key", "prediction"}`` with a key field, else
    ``{"instance", "prediction"}``."""
    if shaped.key is not NO_KEY:
        return {"key": shaped.key, "prediction": prediction}
    return {"instance": shaped.instance, "prediction": prediction}
