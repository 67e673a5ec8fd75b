"""Who the candidate is, read from the manifest rather than guessed from the live split.

A share is no evidence of intent: a canary past 50%, or a third deployment kept at a
small share, would be taken for the candidate. The manifest says which deployment is new.
"""

from __future__ import annotations

from vertexdeploy.errors import UsageError
from vertexdeploy.manifest.crosscheck import resolve_ref
from vertexdeploy.manifest.spec import EndpointSpec, Manifest

STABLE_ALIAS = "stable"


def serves_stable(manifest: Manifest, ref: str) -> bool:
    """Whether a model reference resolves to the version carrying the stable alias."""
    resolved = resolve_ref(manifest, ref)
    model = manifest.model(resolved[0]) if resolved is not None else None
    if model is None or resolved is None:
        return False
    return STABLE_ALIAS in model.versions[resolved[1]].aliases


def manifest_candidate(manifest: Manifest, endpoint: EndpointSpec) -> str:
    """``rollout.candidate``, else the one deployment whose model is not the stable alias.

    Anything else (none, or several) is a UsageError asking for ``--candidate``.
    """
    names = [d.name for d in endpoint.deployments]
    explicit = endpoint.rollout.candidate if endpoint.rollout else None
    if explicit is not None:
        if explicit not in names:
            raise UsageError(
                f"rollout.candidate {explicit!r} is not a deployment of endpoint "
                f"{endpoint.name!r} (deployments: {', '.join(names) or 'none'})"
            )
        return explicit
    others = [d.name for d in endpoint.deployments if not serves_stable(manifest, d.model)]
    if len(others) == 1:
        return others[0]
    why = (
        f"{', '.join(others)} all serve a model other than @{STABLE_ALIAS}"
        if others
        else f"every deployment serves @{STABLE_ALIAS}"
    )
    raise UsageError(
        f"cannot tell the candidate of endpoint {endpoint.name!r} from the manifest: {why}; "
        "pass --candidate or set rollout.candidate"
    )
