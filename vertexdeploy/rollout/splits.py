"""Pure traffic-split arithmetic: who is the candidate, and what each step sends.

Every split produced here sums to exactly 100 and names exactly the deployments of the
split it was derived from, so nothing unknown ever reaches a backend.
"""

from __future__ import annotations

from vertexdeploy.errors import UsageError

Split = dict[str, int]


def fmt_split(split: Split) -> str:
    """'blue 95 / green 5' in a stable order (largest share first)."""
    items = sorted(split.items(), key=lambda kv: (-kv[1], kv[0]))
    return " / ".join(f"{name} {pct}%" for name, pct in items) or "(empty)"


def check_split(split: Split) -> None:
    """Refuse any split that does not sum to 100 or carries a negative share."""
    if sum(split.values()) != 100 or any(p < 0 or p > 100 for p in split.values()):
        raise ValueError(f"invalid traffic split {split!r}: must be 0..100 each, summing to 100")


def resolve_candidate(split: Split, candidate: str | None = None) -> tuple[str, str]:
    """Return (candidate, stable) for a live split.

    Without an explicit candidate (library callers with no manifest; the CLI always names
    one, see ``roles.manifest_candidate``): the deployment with the smallest nonzero share
    when several carry traffic, else the single 0% deployment beside the 100% holder. Stable is
    the largest other holder: the one whose traffic the candidate takes and which is
    undeployed at 100%.
    """
    if not split:
        raise UsageError("the endpoint has no deployed models; nothing to promote")
    if candidate is not None:
        if candidate not in split:
            raise UsageError(
                f"candidate {candidate!r} is not deployed on the endpoint "
                f"(deployed: {', '.join(sorted(split))})"
            )
    else:
        candidate = _default_candidate(split)
    others = {k: v for k, v in split.items() if k != candidate}
    if not others:
        raise UsageError(f"{candidate!r} is the only deployment; there is nothing to replace")
    stable = sorted(others.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    if others[stable] == 0 and split[candidate] < 100:
        raise UsageError(f"no deployment besides {candidate!r} carries traffic")
    return candidate, stable


def _default_candidate(split: Split) -> str:
    carrying = {k: v for k, v in split.items() if v > 0}
    if len(carrying) >= 2:
        smallest = min(carrying.values())
        names = sorted(k for k, v in carrying.items() if v == smallest)
        if len(names) > 1:
            raise UsageError(
                f"cannot tell the candidate: {', '.join(names)} each carry {smallest}%; "
                "pass --candidate"
            )
        return names[0]
    idle = sorted(k for k, v in split.items() if v == 0)
    if len(idle) == 1:
        return idle[0]
    if not idle:
        raise UsageError("only one deployment carries traffic and none waits; nothing to promote")
    raise UsageError(f"cannot tell the candidate among {', '.join(idle)}; pass --candidate")


def split_for(base: Split, candidate: str, stable: str, percent: int) -> Split:
    """The split giving ``candidate`` ``percent``, all of it taken from stable.

    Other deployments keep their share from ``base``: a promotion replaces stable and
    nothing else, so the candidate gets at most what it and stable hold together (at 100,
    all of stable's share).
    """
    if candidate not in base or stable not in base:
        raise ValueError(f"{candidate!r} and {stable!r} must both be in {base!r}")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent {percent} outside 0..100")
    pool = base[candidate] + base[stable]
    out = dict(base)
    out[candidate] = min(percent, pool)
    out[stable] = pool - out[candidate]
    check_split(out)
    return out


Change = tuple[str, int | None, int | None]


def changed_shares(before: Split, after: Split) -> list[Change]:
    """(deployment, share before, share after) for every deployment whose share changed;
    None before means (re)deployed since, None after means undeployed."""
    names = sorted(set(before) | set(after))
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


def fmt_changes(changes: list[Change]) -> str:
    """'blue 95% -> undeployed, green 5% -> 100%, stable redeployed -> 100%'."""
    parts = []
    for name, before, after in changes:
        was = "redeployed" if before is None else f"{before}%"
        now = "undeployed" if after is None else f"{after}%"
        parts.append(f"{name} {was} -> {now}")
    return ", ".join(parts)


def rollback_split(base: Split, candidate: str, stable: str) -> Split:
    """All of the candidate's traffic back on stable; others keep their share."""
    return split_for(base, candidate, stable, 0)
