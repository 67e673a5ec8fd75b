"""Checks that span the whole manifest: unique names, references, traffic sums, the
resource pools deployments share, encryption keys, the explanations attributions need,
Cloud Storage bucket names, and the request logging local monitoring reads.

They run after the schema accepted every object, and return every problem found as
(location, message) pairs, so the loader can report them all at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from vertexdeploy.manifest.buckets import bucket_problems
from vertexdeploy.manifest.files_check import model_kind
from vertexdeploy.manifest.spec import KMS_KEY, MODEL_REF, Encrypted, EndpointSpec, Manifest

Loc = tuple[str | int, ...]


def _duplicates(names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    dups: set[str] = set()
    for n in names:
        (dups if n in seen else seen).add(n)
    return dups


def resolve_ref(manifest: Manifest, ref: str) -> tuple[str, int] | None:
    """Resolve 'model@alias' or 'model@N' to (model name, index into its versions).

    ``@N`` names the N-th entry (1-based) of the model's ``versions`` list.
    """
    m = MODEL_REF.match(ref)
    if not m:
        return None
    model = manifest.model(m["model"])
    if model is None:
        return None
    selector = m["selector"]
    if selector.isdigit():
        index = int(selector) - 1
        return (model.name, index) if 0 <= index < len(model.versions) else None
    for i, version in enumerate(model.versions):
        if selector in version.aliases:
            return model.name, i
    return None


def cross_check(
    manifest: Manifest, invalid: Mapping[str, frozenset[str]] | None = None
) -> list[tuple[Loc, str]]:
    """Every cross-document problem. ``invalid`` names, per top-level list, the items that
    are defined but failed the schema (and were left out): references to them are not
    reported as undefined, since their own problems already are."""
    invalid = invalid or {}
    bad_models = invalid.get("models", frozenset())
    bad_pools = invalid.get("deployment_resource_pools", frozenset())
    problems: list[tuple[Loc, str]] = []
    named: dict[str, list[str]] = {
        "models": [m.name for m in manifest.models],
        "deployment_resource_pools": [p.name for p in manifest.deployment_resource_pools],
        "endpoints": [e.name for e in manifest.endpoints],
        "batch_jobs": [j.name for j in manifest.batch_jobs],
    }
    for kind, names in named.items():
        dups = _duplicates(names)
        for i, name in enumerate(names):
            if name in dups:
                problems.append(((kind, i, "name"), f"name {name!r} is used more than once"))

    for mi, model in enumerate(manifest.models):
        aliases = _duplicates(a for v in model.versions for a in v.aliases)
        for vi, version in enumerate(model.versions):
            for alias in version.aliases:
                if alias in aliases:
                    problems.append(
                        (
                            ("models", mi, "versions", vi, "aliases"),
                            f"alias {alias!r} is on more than one version of {model.name!r}",
                        )
                    )

    for ei, ep in enumerate(manifest.endpoints):
        names = [d.name for d in ep.deployments]
        duplicated, known = _duplicates(names), set(names)  # once per endpoint: stays linear
        for di, dep in enumerate(ep.deployments):
            if dep.name in duplicated:
                problems.append(
                    (
                        ("endpoints", ei, "deployments", di, "name"),
                        f"deployment {dep.name!r} is named more than once in endpoint {ep.name!r}",
                    )
                )
            if resolve_ref(manifest, dep.model) is None and _ref_model(dep.model) not in bad_models:
                problems.append(
                    (
                        ("endpoints", ei, "deployments", di, "model"),
                        _unresolved(manifest, dep.model),
                    )
                )
            if dep.shared_resources is not None and dep.shared_resources not in bad_pools:
                problem = _pool_problem(manifest, ep, dep.shared_resources)
                if problem:
                    problems.append(
                        (("endpoints", ei, "deployments", di, "shared_resources"), problem)
                    )
        for key in ep.traffic:
            if key not in known:
                problems.append(
                    (
                        ("endpoints", ei, "traffic", key),
                        f"traffic names {key!r}, which is not a deployment of {ep.name!r}",
                    )
                )
        if ep.deployments and (ep.traffic or len(ep.deployments) > 1):
            total = sum(ep.traffic.values())
            if total != 100:
                problems.append((("endpoints", ei, "traffic"), f"traffic sums to {total}, not 100"))
        if ep.rollout and len(ep.deployments) == 0:
            problems.append((("endpoints", ei, "rollout"), "a rollout needs deployments"))
        candidate = ep.rollout.candidate if ep.rollout else None
        if candidate and ep.deployments and candidate not in {d.name for d in ep.deployments}:
            listed = ", ".join(d.name for d in ep.deployments)
            problems.append(
                (
                    ("endpoints", ei, "rollout", "candidate"),
                    f"no deployment named {candidate!r} on this endpoint (deployments: {listed})",
                )
            )
        if (
            manifest.target == "vertex"
            and ep.rollout is not None
            and ep.rollout.gates.max_disagreement is not None
        ):
            problems.append(
                (
                    ("endpoints", ei, "rollout", "gates", "max_disagreement"),
                    "max_disagreement is emulator-only (it compares mirrored predictions, which "
                    "Vertex AI does not offer); remove it for target: vertex",
                )
            )
        problems += _evaluation_problems(manifest, ei, ep)
        if _logging_off_explicitly(ep) and manifest.target == "local" and ep.monitoring:
            problems.append(
                (
                    ("endpoints", ei, _logging_key(ep)),
                    "request logging is off (rate 0), and monitoring on the local target reads "
                    "the endpoint's logged requests: it would see nothing; set a rate above 0",
                )
            )
        if ep.monitoring and ep.monitoring.attribution:
            unexplained = sorted(
                {bare for d in ep.deployments if (bare := _unexplained(manifest, d.model))}
            )
            if unexplained:
                problems.append(
                    (
                        ("endpoints", ei, "monitoring", "attribution"),
                        "attribution monitoring needs an explanation on every deployed model; "
                        f"none on {', '.join(repr(n) for n in unexplained)}",
                    )
                )

    for bi, job in enumerate(manifest.batch_jobs):
        if _ref_model(job.model) in bad_models:
            pass
        elif resolve_ref(manifest, job.model) is None:
            problems.append((("batch_jobs", bi, "model"), _unresolved(manifest, job.model)))
        elif job.generate_explanation and (bare := _unexplained(manifest, job.model)):
            problems.append(
                (
                    ("batch_jobs", bi, "generate_explanation"),
                    f"generate_explanation needs an explanation on model {bare!r}",
                )
            )
    problems.extend(_key_problems(manifest))
    problems.extend(bucket_problems(manifest))
    return problems


def cross_warnings(manifest: Manifest) -> list[tuple[Loc, str]]:
    """What is allowed but probably a mistake: models of different kinds behind one
    endpoint (their outputs differ in type; keep one model type per endpoint), and local
    monitoring of an endpoint that logs no requests."""
    warnings: list[tuple[Loc, str]] = []
    for ei, ep in enumerate(manifest.endpoints):
        kinds: dict[str, list[str]] = {}
        for dep in ep.deployments:
            resolved = resolve_ref(manifest, dep.model)
            model = manifest.model(resolved[0]) if resolved else None
            if model is not None:
                kinds.setdefault(model_kind(model), []).append(dep.name)
        if (
            manifest.target == "local"
            and ep.monitoring
            and not ep.logging_rate
            and not _logging_off_explicitly(ep)
        ):
            warnings.append(
                (
                    ("endpoints", ei, "monitoring"),
                    "monitoring on the local target reads the endpoint's logged requests, "
                    "and this endpoint logs none: set request_logging_rate (e.g. 1.0)",
                )
            )
        if len(kinds) > 1:
            mix = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(kinds.items()))
            warnings.append(
                (
                    ("endpoints", ei, "deployments"),
                    f"endpoint {ep.name!r} serves models of different frameworks ({mix}); their "
                    "predictions differ in type, so clients see different outputs by chance; "
                    "keep one model type per endpoint",
                )
            )
    return warnings


def _evaluation_problems(manifest: Manifest, ei: int, ep: EndpointSpec) -> list[tuple[Loc, str]]:
    """Continuous evaluation and its schedule: what the target and the endpoint must offer."""
    out: list[tuple[Loc, str]] = []
    mon = ep.monitoring
    gates = ep.rollout.gates if ep.rollout else None
    if (
        gates is not None
        and gates.min_accuracy is not None
        and (mon is None or not mon.ground_truth)
    ):
        out.append(
            (
                ("endpoints", ei, "rollout", "gates", "min_accuracy"),
                "min_accuracy needs ground truth to judge: give the endpoint "
                "monitoring.ground_truth (key_field) and send outcomes with "
                "`vertexdeploy feedback`",
            )
        )
    if mon is not None and mon.interval_seconds is not None and manifest.target != "local":
        out.append(
            (
                ("endpoints", ei, "monitoring", "interval_seconds"),
                "interval_seconds is for the local target only (Vertex AI runs jobs at least "
                "hourly): use interval_hours",
            )
        )
    if (
        mon is not None
        and mon.ground_truth
        and manifest.target == "vertex"
        and not ep.logging_table
    ):
        out.append(
            (
                ("endpoints", ei, "monitoring", "ground_truth"),
                "ground truth on target vertex is joined with the request-response log in "
                "BigQuery: set request_logging.bigquery_table",
            )
        )
    return out


def _logging_off_explicitly(ep: EndpointSpec) -> bool:
    """The manifest itself says rate 0 (an absent rate only draws a warning)."""
    if ep.request_logging is not None:
        return ep.request_logging.rate == 0
    return "request_logging_rate" in ep.model_fields_set and ep.request_logging_rate == 0


def _ref_model(ref: str) -> str | None:
    m = MODEL_REF.match(ref)
    return m["model"] if m else None


def _logging_key(ep: EndpointSpec) -> str | int:
    return "request_logging" if ep.request_logging is not None else "request_logging_rate"


def _unexplained(manifest: Manifest, ref: str) -> str | None:
    """The name of the model a reference resolves to, if that model has no explanation."""
    resolved = resolve_ref(manifest, ref)
    model = manifest.model(resolved[0]) if resolved else None
    return model.name if model is not None and model.explanation is None else None


def _pool_problem(manifest: Manifest, ep: EndpointSpec, name: str) -> str | None:
    pool = manifest.pool(name)
    if pool is None:
        known = ", ".join(sorted({p.name for p in manifest.deployment_resource_pools})) or "none"
        return f"shared_resources names pool {name!r}, which is not defined (pools: {known})"
    pool_key, ep_key = manifest.encryption_key_for(pool), manifest.encryption_key_for(ep)
    if pool_key != ep_key:
        return (
            f"pool {name!r} and endpoint {ep.name!r} must use the same encryption key "
            f"(pool: {pool_key or 'none'}; endpoint: {ep_key or 'none'})"
        )
    return None


def _key_problems(manifest: Manifest) -> list[tuple[Loc, str]]:
    """Vertex refuses a KMS key outside the resource's region."""
    keys: list[tuple[Loc, str | None]] = [(("encryption_key",), manifest.encryption_key)]
    kinds: tuple[tuple[str, Sequence[Encrypted]], ...] = (
        ("models", manifest.models),
        ("deployment_resource_pools", manifest.deployment_resource_pools),
        ("endpoints", manifest.endpoints),
        ("batch_jobs", manifest.batch_jobs),
    )
    for kind, items in kinds:
        keys.extend(
            ((kind, i, "encryption_key"), item.encryption_key) for i, item in enumerate(items)
        )
    for i, ep in enumerate(manifest.endpoints):
        if ep.monitoring:
            keys.append(
                (("endpoints", i, "monitoring", "encryption_key"), ep.monitoring.encryption_key)
            )
    problems: list[tuple[Loc, str]] = []
    for loc, key in keys:
        m = KMS_KEY.match(key) if key else None
        if m and m["location"] != manifest.region:
            problems.append(
                (
                    loc,
                    f"the key is in {m['location']!r}; Vertex needs it in the manifest's "
                    f"region {manifest.region!r}",
                )
            )
    return problems


def _unresolved(manifest: Manifest, ref: str) -> str:
    m = MODEL_REF.match(ref)
    name = m["model"] if m else ref
    model = manifest.model(name)
    if model is None:
        known = ", ".join(sorted(x.name for x in manifest.models)) or "none"
        return f"model {name!r} is not defined (models: {known})"
    aliases = sorted(a for v in model.versions for a in v.aliases)
    return (
        f"{ref!r} matches no version of {name!r} "
        f"(aliases: {', '.join(aliases) or 'none'}; versions 1..{len(model.versions)})"
    )
