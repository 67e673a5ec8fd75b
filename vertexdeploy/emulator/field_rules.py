"""Checks Vertex makes on optional resource fields, shared by the resource modules.

CMEK keys, private networking, request-response logging, durations and explanation specs are
stored as given once they pass; each refusal is a 400 ``INVALID_ARGUMENT`` raised before
anything is stored, with a message close to Vertex's.
"""

from __future__ import annotations

import re
from typing import Any

from vertexdeploy.emulator.apierror import invalid
from vertexdeploy.emulator.resources import as_dict

_KMS_RE = re.compile(r"^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
_NETWORK_RE = re.compile(r"^projects/[^/]+/global/networks/[^/]+$")
_DURATION_RE = re.compile(r"^-?\d+(?:\.\d{1,9})?s$")
_BQ_RE = re.compile(r"^bq://[^/.\s]+(?:\.[^/.\s]+){0,2}$")
_ATTRIBUTIONS = {
    "sampledShapleyAttribution": ("pathCount", 1, 50),
    "integratedGradientsAttribution": ("stepCount", 1, 100),
    "xraiAttribution": ("stepCount", 1, 100),
}


def location_of(name: str) -> str:
    """``projects/P/locations/L/...`` -> ``L``."""
    parts = name.split("/")
    return parts[3] if len(parts) > 3 else ""


def check_encryption(doc: dict[str, Any], parent: str, what: str) -> None:
    """``encryptionSpec.kmsKeyName`` names a Cloud KMS key in the resource's own region."""
    spec = as_dict(doc.get("encryptionSpec"), f"{what}.encryptionSpec")
    if not spec:
        return
    key = spec.get("kmsKeyName")
    if not isinstance(key, str) or not key:
        raise invalid(f"{what}.encryptionSpec.kmsKeyName is required when encryptionSpec is set.")
    match = _KMS_RE.match(key)
    if match is None:
        raise invalid(
            f"{what}.encryptionSpec.kmsKeyName {key[:200]!r} is malformed: expected "
            "projects/*/locations/*/keyRings/*/cryptoKeys/*."
        )
    if match.group(1) != location_of(parent):
        raise invalid(
            f"The KMS key location {match.group(1)!r} does not match the {what} location "
            f"{location_of(parent)!r}: a CMEK key must be in the resource's region."
        )


def check_duration(value: Any, field: str, *, minimum: float = 0.0) -> float | None:
    """A proto-JSON Duration (``"3600s"``, ``"1.5s"``); ``None`` when unset."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DURATION_RE.match(value):
        raise invalid(f"{field} must be a duration like '3600s', got {str(value)[:40]!r}.")
    seconds = float(value[:-1])
    if seconds < minimum:
        raise invalid(f"{field} must be at least {minimum:g}s, got {value}.")
    return seconds


def check_endpoint(doc: dict[str, Any]) -> None:
    """Networking, logging and connection settings of an Endpoint (create and update)."""
    network = doc.get("network")
    psc = as_dict(doc.get("privateServiceConnectConfig"), "endpoint.privateServiceConnectConfig")
    psc_on = bool(psc.get("enablePrivateServiceConnect")) or bool(
        doc.get("enablePrivateServiceConnect")
    )
    if network:
        if not isinstance(network, str) or not _NETWORK_RE.match(network):
            raise invalid(
                f"endpoint.network {str(network)[:200]!r} is malformed: expected "
                "projects/{project}/global/networks/{network}."
            )
        if psc_on:
            raise invalid(
                "endpoint.network and endpoint.privateServiceConnectConfig cannot both be set: "
                "an endpoint is either peered to a VPC network or uses Private Service Connect."
            )
    allow = psc.get("projectAllowlist")
    if allow and not psc.get("enablePrivateServiceConnect"):
        raise invalid(
            "privateServiceConnectConfig.projectAllowlist needs enablePrivateServiceConnect: true."
        )
    check_logging(doc.get("predictRequestResponseLoggingConfig"))
    conn = as_dict(doc.get("clientConnectionConfig"), "endpoint.clientConnectionConfig")
    check_duration(conn.get("inferenceTimeout"), "clientConnectionConfig.inferenceTimeout")


def check_logging(value: Any) -> None:
    """Request-response logging: a sampling rate in [0, 1] and a ``bq://`` destination."""
    cfg = as_dict(value, "endpoint.predictRequestResponseLoggingConfig")
    rate = cfg.get("samplingRate")
    if rate is not None and not (isinstance(rate, (int, float)) and 0 <= rate <= 1):
        raise invalid(
            f"predictRequestResponseLoggingConfig.samplingRate must be in [0, 1], got {rate!r}."
        )
    dest = as_dict(cfg.get("bigqueryDestination"), "predictRequestResponseLoggingConfig")
    uri = dest.get("outputUri")
    if uri and not (isinstance(uri, str) and _BQ_RE.match(uri)):
        raise invalid(
            f"predictRequestResponseLoggingConfig.bigqueryDestination.outputUri {str(uri)[:200]!r}"
            " must be bq://project, bq://project.dataset or bq://project.dataset.table."
        )


def check_explanation_spec(value: Any, path: str) -> None:
    """At most one attribution method, with its count in Vertex's range."""
    spec = as_dict(value, path)
    params = as_dict(spec.get("parameters"), f"{path}.parameters")
    methods = [m for m in (*_ATTRIBUTIONS, "examples") if params.get(m) is not None]
    if len(methods) > 1:
        raise invalid(f"{path}.parameters sets {' and '.join(methods)}; choose one method.")
    for method in methods:
        if method not in _ATTRIBUTIONS:
            continue
        field, low, high = _ATTRIBUTIONS[method]
        count = as_dict(params[method], f"{path}.parameters.{method}").get(field)
        if not isinstance(count, int) or isinstance(count, bool) or not low <= count <= high:
            raise invalid(
                f"{path}.parameters.{method}.{field} must be an integer in [{low}, {high}], "
                f"got {count!r}."
            )


def explains(version: dict[str, Any], override: Any = None) -> bool:
    """Whether predictions of ``version`` can be explained (its spec, or an override)."""
    return bool(as_dict(override, "explanationSpec").get("parameters")) or bool(
        as_dict(version.get("explanationSpec"), "explanationSpec").get("parameters")
    )
