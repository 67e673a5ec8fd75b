"""A model's parameters, read for the NaN, zero-weight and weight-histogram checks.

Linear models: coefficients and intercepts. Trees (scikit-learn, XGBoost, ONNX tree
ensembles): split thresholds and leaf values, and which features any split uses. ONNX:
float initializers and the float attributes of its operators (skl2onnx puts a linear
model's coefficients in attributes, not initializers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.quality.artifact import LoadedModel


@dataclass(frozen=True)
class Params:
    """``values``: every parameter, flattened; ``kind``: linear, trees or other; for trees,
    ``used``/``features``: how many input features some split reads, of how many."""

    kind: str
    values: np.ndarray
    used: int | None = None
    features: int | None = None
    parts: dict[str, int] = field(default_factory=dict)


def read_params(model: LoadedModel, n_features: int) -> Params:
    if model.framework == "onnx":
        return _onnx_params(str(model.path), n_features)
    est = model.estimator
    if est is None:
        return _booster_params(model.obj, n_features)
    est = _final_step(est)
    if type(est).__module__.startswith("xgboost"):
        return _booster_params(est.get_booster(), n_features)
    if hasattr(est, "coef_"):
        coef = np.asarray(est.coef_, dtype=float).ravel()
        intercept = np.atleast_1d(np.asarray(getattr(est, "intercept_", []), dtype=float))
        return Params("linear", np.concatenate([coef, intercept]), parts={"coef": coef.size})
    trees = _sklearn_trees(est)
    if trees:
        values = [np.concatenate([t.threshold[t.feature >= 0], t.value.ravel()]) for t in trees]
        used = {int(f) for t in trees for f in t.feature if f >= 0}
        return Params("trees", np.concatenate(values), len(used), n_features)
    return Params("other", np.empty(0))


def _final_step(est: Any) -> Any:
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


def _sklearn_trees(est: Any) -> list[Any]:
    if hasattr(est, "tree_"):
        return [est.tree_]
    members = getattr(est, "estimators_", None)
    if members is None:
        return []
    flat = np.asarray(members, dtype=object).ravel()  # gradient boosting keeps a 2-D array
    return [m.tree_ for m in flat if hasattr(m, "tree_")]


def _booster_params(booster: Any, n_features: int) -> Params:
    values: list[float] = []
    used: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "leaf" in node:
            values.append(float(node["leaf"]))
            return
        used.add(str(node.get("split")))
        values.append(float(node.get("split_condition", 0.0)))
        for child in node.get("children", []):
            walk(child)

    for dump in booster.get_dump(dump_format="json"):
        walk(json.loads(dump))
    return Params("trees", np.asarray(values, dtype=float), len(used), n_features)


def _onnx_params(path: str, n_features: int) -> Params:
    """The model file's own parameters (the session does not expose them)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(path)
    arrays = [
        np.asarray(numpy_helper.to_array(t), dtype=float).ravel()
        for t in proto.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
    ]
    kind, used, coef = "other", None, 0
    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type.startswith("Linear"):
            kind = "linear"
            weights = np.asarray(attrs.get("coefficients", []), dtype=float)
            coef += weights.size
            arrays.insert(0, weights)
            arrays.append(np.asarray(attrs.get("intercepts", []), dtype=float))
        elif node.op_type.startswith("TreeEnsemble"):
            kind = "trees"
            modes = [m.decode() if isinstance(m, bytes) else m for m in attrs["nodes_modes"]]
            ids = attrs["nodes_featureids"]
            used = len({int(f) for f, m in zip(ids, modes, strict=False) if m != "LEAF"})
            arrays.append(np.asarray(attrs.get("nodes_values", []), dtype=float))
            weights = attrs.get("class_weights", attrs.get("target_weights", []))
            arrays.append(np.asarray(weights, dtype=float))
    values = np.concatenate(arrays) if arrays else np.empty(0)
    if kind == "trees":
        return Params(kind, values, used, n_features)
    return Params(kind, values, parts={"coef": coef} if kind == "linear" else {})
