"""A batch job's reviewable fields, both ways: to the BatchPredictionJob Vertex is sent,
and back from the latest run Vertex returns.

Every field is read back from the run, so a plan names the fields that changed (before and
after) instead of only a digest. A run made by an earlier release lacks the newer fields,
which then read as the manifest's defaults: its plan stays empty.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy import labels as L
from vertexdeploy.manifest.spec_jobs import BatchJobSpec

MODEL_LABEL = "vertexdeploy-model"
OURS = L.MANAGED_KEYS | {MODEL_LABEL}
_NO_ACCELERATOR = ("", "ACCELERATOR_TYPE_UNSPECIFIED")
# The keys of ``attrs``: each forces a new run when it changes.
FIELDS = frozenset(
    {
        "model",
        "model_version",
        "spec_hash",
        "input_format",
        "input_uris",
        "output_format",
        "output_prefix",
        "machine_type",
        "accelerator",
        "starting_replicas",
        "max_replicas",
        "service_account",
        "labels",
        "instance_config",
        "model_parameters",
        "generate_explanation",
        "encryption_key",
    }
)


def user_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels a user set: ours are written over theirs, so they are not theirs."""
    return {k: v for k, v in labels.items() if k not in OURS}


def attrs(
    job: BatchJobSpec,
    *,
    model: str,
    fingerprint: str,
    digest: str,
    input_uris: list[str],
    encryption_key: str | None,
) -> dict[str, Any]:
    """What the plan shows and compares for a batch job (every change is a new run)."""
    accelerator = job.accelerator
    return {
        "model": model,
        "model_version": fingerprint,
        "spec_hash": digest,
        "input_format": job.input.format,
        "input_uris": list(input_uris),
        "output_format": job.output.format,
        "output_prefix": job.output.prefix,
        "machine_type": job.machine_type,
        "accelerator": None
        if accelerator is None
        else {"type": accelerator.type, "count": accelerator.count},
        "starting_replicas": job.starting_replicas,
        "max_replicas": job.max_replicas,
        "service_account": job.service_account,
        "labels": user_labels(job.labels),
        "instance_config": None
        if job.instance_config is None
        else job.instance_config.model_dump(mode="json"),
        "model_parameters": job.model_parameters,
        "generate_explanation": job.generate_explanation,
        "encryption_key": encryption_key,
    }


# ---------- attrs -> request ----------


def request(
    a: dict[str, Any], *, stack: str, name: str, model_version_name: str, input_uris: list[str]
) -> dict[str, Any]:
    """A BatchPredictionJob (proto field names); ``input_uris`` as staged just now."""
    input_config: dict[str, Any] = {"instances_format": a["input_format"]}
    if a["input_format"] == "bigquery":
        input_config["bigquery_source"] = {"input_uri": input_uris[0]}
    else:
        input_config["gcs_source"] = {"uris": list(input_uris)}
    output_config: dict[str, Any] = {"predictions_format": a["output_format"]}
    if a["output_format"] == "bigquery":
        output_config["bigquery_destination"] = {"output_uri": a["output_prefix"]}
    else:
        output_config["gcs_destination"] = {"output_uri_prefix": a["output_prefix"]}
    machine: dict[str, Any] = {"machine_type": a["machine_type"]}
    if a.get("accelerator"):
        machine["accelerator_type"] = a["accelerator"]["type"]
        machine["accelerator_count"] = a["accelerator"]["count"]
    managed = L.managed_labels(
        stack, name, fingerprint=a["model_version"], spec_hash=a["spec_hash"]
    )
    body: dict[str, Any] = {
        "display_name": f"{stack}-{name}",
        "model": model_version_name,
        "input_config": input_config,
        "output_config": output_config,
        "dedicated_resources": {
            "machine_spec": machine,
            "starting_replica_count": a["starting_replicas"],
            "max_replica_count": a["max_replicas"],
        },
        "labels": {**(a.get("labels") or {}), **managed, MODEL_LABEL: a["model"]},
    }
    if a.get("service_account"):
        body["service_account"] = a["service_account"]
    if a.get("instance_config") is not None:
        body["instance_config"] = {k: v for k, v in a["instance_config"].items() if v}
    if a.get("model_parameters") is not None:
        body["model_parameters"] = a["model_parameters"]
    if a.get("generate_explanation"):
        body["generate_explanation"] = True
    if a.get("encryption_key"):
        body["encryption_spec"] = {"kms_key_name": a["encryption_key"]}
    return body


# ---------- run -> attrs ----------


def from_api(job: dict[str, Any]) -> dict[str, Any]:
    """The attrs of a listed run (``api.to_dict`` form). Absent fields read as defaults."""
    labels = job.get("labels") or {}
    inp = job.get("input_config") or {}
    out = job.get("output_config") or {}
    resources = job.get("dedicated_resources") or {}
    machine = resources.get("machine_spec") or {}
    bq_in = (inp.get("bigquery_source") or {}).get("input_uri")
    accelerator = str(machine.get("accelerator_type") or "")
    config = job.get("instance_config")
    return {
        "model": labels.get(MODEL_LABEL, ""),
        "model_version": labels.get(L.FINGERPRINT, ""),
        "spec_hash": labels.get(L.SPEC_HASH, ""),
        "input_format": inp.get("instances_format", ""),
        "input_uris": [bq_in] if bq_in else list((inp.get("gcs_source") or {}).get("uris") or []),
        "output_format": out.get("predictions_format", ""),
        "output_prefix": (out.get("bigquery_destination") or {}).get("output_uri")
        or (out.get("gcs_destination") or {}).get("output_uri_prefix", ""),
        "machine_type": machine.get("machine_type", ""),
        "accelerator": None
        if accelerator in _NO_ACCELERATOR
        else {"type": accelerator, "count": int(machine.get("accelerator_count") or 0)},
        "starting_replicas": int(resources.get("starting_replica_count") or 0),
        "max_replicas": int(resources.get("max_replica_count") or 0),
        "service_account": job.get("service_account") or None,
        "labels": user_labels(labels),
        "instance_config": None
        if config is None
        else {
            "instance_type": config.get("instance_type") or None,
            "key_field": config.get("key_field") or None,
            "included_fields": list(config.get("included_fields") or []),
            "excluded_fields": list(config.get("excluded_fields") or []),
        },
        "model_parameters": job.get("model_parameters"),
        "generate_explanation": bool(job.get("generate_explanation", False)),
        "encryption_key": (job.get("encryption_spec") or {}).get("kms_key_name") or None,
    }
