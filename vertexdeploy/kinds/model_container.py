"""A model version's serving container and explanation: manifest form, request, and back.

Both directions meet in one plain form with unset values dropped, because the API returns
zeros and empty lists for every field never sent: a version read back then compares equal
to the manifest that uploaded it. Pure functions, so they are tested with plain values.
"""

from __future__ import annotations

from typing import Any

from vertexdeploy.manifest.spec import ContainerSpec, ExplanationSpec

# ContainerSpec keys beyond the ones fingerprinted since the first release (image, env,
# routes, ports). Each joins a fingerprint only when set, so older digests stay the same.
EXTRA_KEYS = (
    "command",
    "args",
    "grpc_ports",
    "startup_probe",
    "health_probe",
    "liveness_probe",
    "shared_memory_size_mb",
    "deployment_timeout_seconds",
)
PROBES = ("startup_probe", "health_probe", "liveness_probe")
# explanation method -> (ExplanationParameters field, its count field)
ATTRIBUTIONS = {
    "sampled_shapley": ("sampled_shapley_attribution", "path_count"),
    "integrated_gradients": ("integrated_gradients_attribution", "step_count"),
    "xrai": ("xrai_attribution", "step_count"),
}


def clean(value: Any) -> Any:
    """Drop what the API reports for an unset field (None, 0, "", [], {}); tuples -> lists."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, 0, "", [], {}, False)}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def container_extras(container: ContainerSpec) -> dict[str, Any]:
    """The set EXTRA_KEYS of a resolved container, in manifest form."""
    return clean(container.model_dump(include=set(EXTRA_KEYS), exclude_none=True))  # type: ignore[no-any-return]


def container_attrs(container: ContainerSpec) -> dict[str, Any]:
    """What a version's ``container`` attribute compares: ports plus the extras."""
    return clean({"ports": list(container.ports), **container_extras(container)})  # type: ignore[no-any-return]


def explanation_attrs(explanation: ExplanationSpec | None) -> dict[str, Any] | None:
    if explanation is None:
        return None
    return clean(explanation.model_dump(exclude_none=True))  # type: ignore[no-any-return]


# ---------- requests ----------


def _probe_request(probe: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in probe.items() if k != "exec"}
    if "exec" in probe:
        out["exec_"] = probe["exec"]  # the proto-plus name of Probe.exec
    return out


def container_request(attrs: dict[str, Any]) -> dict[str, Any]:
    """Model.containerSpec (proto field names) from a version's attributes."""
    extra = attrs.get("container") or {}
    spec: dict[str, Any] = {
        "image_uri": attrs["image_uri"],
        "env": [{"name": k, "value": v} for k, v in sorted(attrs["env"].items())],
    }
    for route in ("predict_route", "health_route"):
        if attrs.get(route):
            spec[route] = attrs[route]
    for key in ("command", "args"):
        if extra.get(key):
            spec[key] = list(extra[key])
    for key in ("ports", "grpc_ports"):
        if extra.get(key):
            spec[key] = [{"container_port": p} for p in extra[key]]
    for key in PROBES:
        if extra.get(key):
            spec[key] = _probe_request(extra[key])
    if extra.get("shared_memory_size_mb"):
        spec["shared_memory_size_mb"] = extra["shared_memory_size_mb"]
    if extra.get("deployment_timeout_seconds"):
        spec["deployment_timeout"] = {"seconds": extra["deployment_timeout_seconds"]}
    return spec


def explanation_request(explanation: dict[str, Any]) -> dict[str, Any]:
    """Model.explanationSpec: one attribution method; each feature and the output keyed by
    its own name (docs/manifest.md explains why)."""
    param, count = ATTRIBUTIONS[explanation["method"]]
    return {
        "parameters": {param: {count: explanation[count]}},
        "metadata": {
            "inputs": {f: {"input_tensor_name": f} for f in explanation["features"]},
            "outputs": {o: {"output_tensor_name": o} for o in explanation["outputs"]},
        },
    }


# ---------- live ----------


def _seconds(duration: Any) -> int:
    """A Duration as to_dict gives it ("300s") or as a mapping, in whole seconds."""
    if isinstance(duration, dict):
        return int(duration.get("seconds", 0))
    return int(float(str(duration or "0s").rstrip("s") or 0))


def _probe_from_api(probe: dict[str, Any]) -> dict[str, Any]:
    out = dict(probe)
    if "exec_" in out:
        out["exec"] = out.pop("exec_")
    if isinstance(out.get("http_get"), dict):
        out["http_get"] = {k: v for k, v in out["http_get"].items() if k != "http_headers"}
    return out


def container_from_api(spec: dict[str, Any]) -> dict[str, Any]:
    """A version's ``container`` attribute from its Model.containerSpec."""
    out: dict[str, Any] = {
        "command": list(spec.get("command") or []),
        "args": list(spec.get("args") or []),
        "ports": [int(p.get("container_port", 0)) for p in spec.get("ports") or []],
        "grpc_ports": [int(p.get("container_port", 0)) for p in spec.get("grpc_ports") or []],
        "shared_memory_size_mb": int(spec.get("shared_memory_size_mb") or 0),
        "deployment_timeout_seconds": _seconds(spec.get("deployment_timeout")),
    }
    for key in PROBES:
        if spec.get(key):
            out[key] = _probe_from_api(spec[key])
    return clean(out)  # type: ignore[no-any-return]


def explanation_from_api(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """A version's ``explanation`` attribute from its Model.explanationSpec."""
    params = (spec or {}).get("parameters") or {}
    for method, (param, count) in ATTRIBUTIONS.items():
        if params.get(param):
            metadata = (spec or {}).get("metadata") or {}
            return clean(  # type: ignore[no-any-return]
                {
                    "method": method,
                    count: int(params[param].get(count, 0)),
                    "features": sorted(metadata.get("inputs") or {}),
                    "outputs": sorted(metadata.get("outputs") or {}),
                }
            )
    return None
