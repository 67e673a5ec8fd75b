"""The labels that mark a resource as managed by a stack, and deterministic ids.

Only resources carrying ``vertexdeploy-stack=<stack>`` are ever updated or deleted.
"""

from __future__ import annotations

import hashlib
import re

NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"  # the manifest's names (spec_base)

STACK = "vertexdeploy-stack"
NAME = "vertexdeploy-name"
FINGERPRINT = "vertexdeploy-fingerprint"
SPEC_HASH = "vertexdeploy-spec"
# On a model version uploaded with `--skip-checks`: its quality checks did not gate it.
CHECKS = "vertexdeploy-checks"
MANAGED_KEYS = frozenset({STACK, NAME, FINGERPRINT, SPEC_HASH, CHECKS})


def managed_labels(
    stack: str, name: str, *, fingerprint: str | None = None, spec_hash: str | None = None
) -> dict[str, str]:
    labels = {STACK: stack, NAME: name}
    if fingerprint:
        labels[FINGERPRINT] = fingerprint
    if spec_hash:
        labels[SPEC_HASH] = spec_hash
    return labels


def user_labels(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in MANAGED_KEYS}


def resource_id(*parts: str, limit: int = 63) -> str:
    """A caller-chosen id Vertex accepts: [a-z][a-z0-9-]*, at most ``limit`` chars."""
    raw = "-".join(parts).lower()
    text = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    if len(text) > limit:
        text = text[: limit - 9].rstrip("-") + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return text if text[:1].isalpha() else f"v{text}"[:limit]


def deployed_model_id(*parts: str) -> str:
    """Deployed model ids must be 1-10 digits; derive one deterministically, no leading 0."""
    n = int(hashlib.sha256("/".join(parts).encode()).hexdigest(), 16)
    return str(1_000_000_000 + n % 9_000_000_000)


def logical_from_id(resource_id_: str, stack: str) -> str | None:
    """The manifest name behind an id ``<stack>-<name>`` (the inverse of ``resource_id`` for
    names that fit), or None when the id is not this stack's. For resources without labels
    (deployment resource pools), the id is all that says whose they are."""
    prefix = f"{stack}-"
    if not resource_id_.startswith(prefix):
        return None
    rest = resource_id_[len(prefix) :]
    return rest if re.fullmatch(NAME_PATTERN, rest) else None
