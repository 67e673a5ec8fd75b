"""Predictors: turn a model's artifact directory + serving container into `predict(instances)`.

The framework is chosen from the container the way Vertex's prebuilt containers imply it.
The rule (first match wins):

1. env `VERTEXDEPLOY_PREDICTOR=module:Class` on the container -> a custom predictor (any image);
2. the image is a Vertex prebuilt prediction image (`*docker.pkg.dev/vertex-ai*/prediction/NAME`,
   `gcr.io/cloud-aiplatform/prediction/NAME`), the emulator's own image `vertexdeploy/NAME`,
   or the bare shorthand `NAME` -- and NAME (tag stripped) names the framework:
   contains `onnx` -> ONNX, starts with `sklearn` -> scikit-learn, `xgboost` -> XGBoost,
   `pytorch` -> TorchScript (only when torch is installed);
3. anything else is refused with `UnsupportedContainerError`, listing what can run.

Frameworks are imported only when a predictor of that kind loads, so the emulator starts fast.
Outputs are what the model returns, `.tolist()`-ed, like Vertex's prebuilt sklearn container.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
import sys
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vertexdeploy.emulator.serving.artifacts import check_sha256
from vertexdeploy.emulator.serving.errors import (
    ArtifactError,
    PredictionFailedError,
    PredictionInputError,
    UnsupportedContainerError,
)

PREDICTOR_ENV = "VERTEXDEPLOY_PREDICTOR"
SHA256_ENV = "VERTEXDEPLOY_ARTIFACT_SHA256"

_PREBUILT_PREFIX = re.compile(
    r"^(?:[a-z0-9-]+-docker\.pkg\.dev/vertex-ai(?:-restricted)?/prediction/"
    r"|(?:[a-z]+\.)?gcr\.io/cloud-aiplatform/prediction/"
    r"|vertexdeploy/)"
)


@runtime_checkable
class Predictor(Protocol):
    """What the batcher calls: a list of instances in, one JSON-able row per instance out."""

    kind: str

    def predict(self, instances: list[Any]) -> list[Any]: ...


def supported_containers() -> str:
    """Human-readable list of what the emulator can run (used in refusal messages)."""
    torch_note = "" if _torch_available() else " (not available here: torch is not installed)"
    return (
        "scikit-learn (sklearn-cpu.* prebuilt images: model.joblib or model.pkl); "
        "XGBoost (xgboost-cpu.*: model.bst, model.json or model.joblib); "
        "ONNX (an image name containing 'onnx', e.g. vertexdeploy/onnx: model.onnx); "
        f"TorchScript (pytorch-cpu.*: model.pt){torch_note}; "
        f"any image with env {PREDICTOR_ENV}=module:Class naming a custom predictor class "
        "in a .py file of the artifact directory. Prebuilt images may be given as "
        "us-docker.pkg.dev/vertex-ai/prediction/NAME:TAG (any region), vertexdeploy/NAME "
        "or the shorthand NAME"
    )


def container_env(container_spec: Mapping[str, Any] | None) -> dict[str, str]:
    """The container's env as a dict (ModelContainerSpec.env is a list of name/value)."""
    env: dict[str, str] = {}
    for item in (container_spec or {}).get("env") or []:
        if isinstance(item, Mapping) and "name" in item:
            env[str(item["name"])] = str(item.get("value", ""))
    return env


def _image_name(image_uri: str) -> tuple[str, str] | None:
    """(prefix-less NAME, lowercased) for images the rule accepts, else None."""
    image = image_uri.strip().lower().split("@", 1)[0]
    match = _PREBUILT_PREFIX.match(image)
    if match:
        rest = image[match.end() :]
    elif "/" not in image:
        rest = image
    else:
        return None
    name = rest.split(":", 1)[0]
    return (name, rest) if name and "/" not in name else None


def select_framework(container_spec: Mapping[str, Any] | None) -> str:
    """The framework name for a container, or UnsupportedContainerError."""
    if PREDICTOR_ENV in container_env(container_spec):
        return "custom"
    image = str((container_spec or {}).get("imageUri") or "")
    parsed = _image_name(image)
    if parsed:
        name = parsed[0]
        if "onnx" in name:
            return "onnx"
        if name.startswith("sklearn"):
            return "sklearn"
        if name.startswith("xgboost"):
            return "xgboost"
        if name.startswith("pytorch") and _torch_available():
            return "pytorch"
    raise UnsupportedContainerError(
        f"the emulator cannot run serving container {image or '(no imageUri)'!r}. "
        f"It runs: {supported_containers()}."
    )


def load_predictor(artifact_dir: str | Path, container_spec: Mapping[str, Any] | None) -> Predictor:
    """Validate the container, check the pinned sha256, then load the model (blocking)."""
    framework = select_framework(container_spec)
    root = Path(artifact_dir)
    if not root.is_dir():
        raise ArtifactError(f"artifact directory {root} does not exist")
    expected = container_env(container_spec).get(SHA256_ENV)
    if expected:
        check_sha256(root, expected)
    loader = _LOADERS[framework]
    try:
        return loader(root, container_env(container_spec))
    except (ArtifactError, UnsupportedContainerError):
        raise
    except Exception as exc:  # a broken pickle, a version mismatch, a bad class...
        raise ArtifactError(f"cannot load {framework} model from {root}: {exc}") from exc


# ---------------------------------------------------------------------------- helpers


def jsonable(value: Any) -> Any:
    """numpy arrays/scalars -> Python lists/scalars, recursively."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _rows(output: Any, n: int, kind: str) -> list[Any]:
    rows = jsonable(output)
    if not isinstance(rows, list) or len(rows) != n:
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise PredictionFailedError(f"{kind} model returned {got} predictions for {n} instances")
    return rows


_INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, KeyError, IndexError)


@contextmanager
def _input_errors(kind: str, extra: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Errors the model raises about its input become 400s that quote the model's message."""
    try:
        yield
    except (PredictionInputError, PredictionFailedError):
        raise
    except _INPUT_ERRORS + extra as exc:
        raise PredictionInputError(f"{kind} model rejected the instances: {exc}") from exc
    except Exception as exc:
        raise PredictionFailedError(f"{kind} model failed: {type(exc).__name__}: {exc}") from exc


def _as_array(instances: list[Any], dtype: Any = None) -> Any:
    import numpy as np

    if not isinstance(instances, list) or not instances:
        raise PredictionInputError("instances must be a non-empty list")
    return np.asarray(instances, dtype=dtype)


def _one_of(root: Path, names: tuple[str, ...], kind: str) -> Path:
    for name in names:
        if (root / name).is_file():
            return root / name
    present = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    raise ArtifactError(
        f"{kind} model: none of {', '.join(names)} in {root} (found: {', '.join(present) or '-'})"
    )


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


# ---------------------------------------------------------------------------- predictors


class SklearnPredictor:
    kind = "sklearn"

    def __init__(self, model: Any) -> None:
        from vertexdeploy.emulator.serving.forest import forest_path

        self.model = model
        self._forest = forest_path(model)  # the model's own answers, minus per-tree overhead

    def _predict(self, instances: list[Any]) -> Any:
        data = _as_array(instances)
        out = self._forest.predict(data) if self._forest is not None else None
        return self.model.predict(data) if out is None else out

    def predict(self, instances: list[Any]) -> list[Any]:
        with _input_errors(self.kind):
            return _rows(self._predict(instances), len(instances), self.kind)

    def predict_array(self, instances: list[Any]) -> Any:
        """Batch jobs' fast path: the model's own output array, one row per instance, with
        no round trip through Python lists (the caller encodes the array in one go)."""
        with _input_errors(self.kind):
            out = self._predict(instances)
            if getattr(out, "shape", (None,))[0] != len(instances):
                raise PredictionFailedError(
                    f"{self.kind} model returned {len(out)} predictions for "
                    f"{len(instances)} instances"
                )
            return out


def _load_pickled(path: Path) -> Any:
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    with path.open("rb") as fh:
        return pickle.load(fh)


def _load_sklearn(root: Path, env: Mapping[str, str]) -> Predictor:
    import sklearn  # noqa: F401  (unpickling needs it; fail early with a clear error)

    return SklearnPredictor(_load_pickled(_one_of(root, ("model.joblib", "model.pkl"), "sklearn")))


class XGBoostPredictor:
    kind = "xgboost"

    def __init__(self, model: Any) -> None:
        import xgboost

        self.model = model
        self._is_booster = isinstance(model, xgboost.Booster)

    def predict(self, instances: list[Any]) -> list[Any]:
        import xgboost

        try:
            with _input_errors(self.kind):
                data = _as_array(instances)
                if self._is_booster:
                    want = self.model.num_features()
                    if data.ndim != 2 or (want and data.shape[1] != want):
                        # xgboost silently accepts too few columns; refuse like too many
                        got = data.shape[1] if data.ndim == 2 else f"shape {data.shape}"
                        raise ValueError(f"Feature shape mismatch, expected: {want}, got {got}")
                    out = self.model.predict(xgboost.DMatrix(data))
                else:
                    out = self.model.predict(data)
                return _rows(out, len(instances), self.kind)
        except PredictionInputError as exc:
            # XGBoostError messages carry a C++ stack trace: keep the message, drop the trace
            raise PredictionInputError(str(exc).split("\nStack trace")[0].strip()) from exc


def _load_xgboost(root: Path, env: Mapping[str, str]) -> Predictor:
    import xgboost

    path = _one_of(
        root, ("model.bst", "model.json", "model.ubj", "model.joblib", "model.pkl"), "xgboost"
    )
    if path.suffix in (".bst", ".json", ".ubj"):
        booster = xgboost.Booster()
        with warnings.catch_warnings():  # "Unknown file format: bst": it guesses right
            warnings.simplefilter("ignore")
            booster.load_model(str(path))
        return XGBoostPredictor(booster)
    return XGBoostPredictor(_load_pickled(path))


_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(string)": "object",
    "tensor(bool)": "bool",
}


class OnnxPredictor:
    """Feeds list instances to the single input (or dict instances by input name)."""

    kind = "onnx"

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = [(i.name, _ONNX_DTYPES.get(i.type, "float32")) for i in session.get_inputs()]

    def predict(self, instances: list[Any]) -> list[Any]:
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        with _input_errors(self.kind, (InvalidArgument,)):
            if not isinstance(instances, list) or not instances:
                raise PredictionInputError("instances must be a non-empty list")
            if isinstance(instances[0], Mapping):
                feed = {
                    name: _as_array([row[name] for row in instances], dtype)
                    for name, dtype in self.inputs
                }
            elif len(self.inputs) == 1:
                name, dtype = self.inputs[0]
                feed = {name: _as_array(instances, dtype)}
            else:
                names = ", ".join(n for n, _ in self.inputs)
                raise PredictionInputError(
                    f"this ONNX model has several inputs ({names}); send dict instances"
                )
            return _rows(self.session.run(None, feed)[0], len(instances), self.kind)


def _load_onnx(root: Path, env: Mapping[str, str]) -> Predictor:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one model call per worker; batching gives throughput
    session = onnxruntime.InferenceSession(
        str(_one_of(root, ("model.onnx",), "onnx")), options, providers=["CPUExecutionProvider"]
    )
    return OnnxPredictor(session)


class TorchScriptPredictor:
    kind = "pytorch"

    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, instances: list[Any]) -> list[Any]:
        import torch

        with _input_errors(self.kind, (RuntimeError,)), torch.no_grad():
            tensor = torch.as_tensor(_as_array(instances, "float32"))
            return _rows(self.module(tensor), len(instances), self.kind)


def _load_torch(root: Path, env: Mapping[str, str]) -> Predictor:
    import torch

    module = torch.jit.load(str(_one_of(root, ("model.pt",), "pytorch")), map_location="cpu")
    module.eval()
    return TorchScriptPredictor(module)


class CustomPredictor:
    """A Custom-Prediction-Routine-shaped class: load / preprocess / predict / postprocess.

    Unlike Vertex CPR, hooks see the (possibly batched) list of instances rather than the
    request body, so that requests can be coalesced; `postprocess` must return one row per
    instance (or `{"predictions": rows}`).
    """

    kind = "custom"

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self._pre: Callable[[Any], Any] = getattr(obj, "preprocess", None) or (lambda x: x)
        self._post: Callable[[Any], Any] = getattr(obj, "postprocess", None) or (lambda x: x)
        self.raw_predict: Callable[..., Any] | None = getattr(obj, "raw_predict", None)

    def predict(self, instances: list[Any]) -> list[Any]:
        with _input_errors(self.kind):
            out = self._post(self.obj.predict(self._pre(instances)))
            if isinstance(out, Mapping) and "predictions" in out:
                out = out["predictions"]
            return _rows(out, len(instances), self.kind)


def _load_custom(root: Path, env: Mapping[str, str]) -> Predictor:
    spec = env[PREDICTOR_ENV]
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise ArtifactError(f"{PREDICTOR_ENV}={spec!r}: expected module:Class")
    source = root.joinpath(*module_name.split(".")).with_suffix(".py")
    if not source.is_file() or root.resolve() not in source.resolve().parents:
        raise ArtifactError(f"{PREDICTOR_ENV}={spec!r}: no file {source} in the artifact directory")
    unique = f"_vertexdeploy_predictor_{abs(hash((str(root.resolve()), module_name))):x}"
    module = types.ModuleType(unique)
    module.__file__ = str(source)
    sys.modules[unique] = module  # dataclasses/pickle look classes up by module name
    # compile + exec rather than import: no __pycache__ is written into the artifact dir.
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), module.__dict__)
    cls = getattr(module, class_name, None)
    if cls is None or not callable(getattr(cls, "predict", None)):
        raise ArtifactError(
            f"{PREDICTOR_ENV}={spec!r}: {source} has no class {class_name} with a predict method"
        )
    obj = cls()
    load = getattr(obj, "load", None)
    if callable(load):
        load(str(root))
    return CustomPredictor(obj)


_LOADERS: dict[str, Callable[[Path, Mapping[str, str]], Predictor]] = {
    "sklearn": _load_sklearn,
    "xgboost": _load_xgboost,
    "onnx": _load_onnx,
    "pytorch": _load_torch,
    "custom": _load_custom,
}
