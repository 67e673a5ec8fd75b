"""Each predictor answers exactly what the model itself answers; bad containers are refused."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import xgboost
from serving_fixtures import SKLEARN_IMAGE, XGBOOST_IMAGE, Saved, spec

from vertexdeploy.emulator.serving.artifacts import artifact_sha256
from vertexdeploy.emulator.serving.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    PredictionInputError,
    UnsupportedContainerError,
)
from vertexdeploy.emulator.serving.predictors import load_predictor, select_framework
from vertexdeploy.errors import VertexDeployError


@pytest.mark.parametrize("name", ["iris-lr", "bc-rf-pkl", "iris-reg"])
def test_sklearn_predictions_equal_the_models_own(models: dict[str, Saved], name: str) -> None:
    saved = models[name]
    predictor = load_predictor(saved.dir, spec(SKLEARN_IMAGE))
    rows = saved.x[:25].tolist()
    assert predictor.predict(rows) == saved.model.predict(np.asarray(rows)).tolist()


@pytest.mark.parametrize("name", ["bc-xgb-bst", "bc-xgb-json"])
def test_xgboost_booster_predictions_equal_the_models_own(
    models: dict[str, Saved], name: str
) -> None:
    saved = models[name]
    predictor = load_predictor(saved.dir, spec(XGBOOST_IMAGE))
    rows = saved.x[:25].tolist()
    expected = saved.model.predict(xgboost.DMatrix(np.asarray(rows))).tolist()
    assert predictor.predict(rows) == expected


def test_onnx_predictions_equal_the_sessions_own(models: dict[str, Saved]) -> None:
    saved = models["iris-onnx"]
    predictor = load_predictor(saved.dir, spec("vertexdeploy/onnx"))
    rows = saved.x[:30].tolist()
    session = onnxruntime.InferenceSession(str(saved.dir / "model.onnx"))
    expected = session.run(None, {session.get_inputs()[0].name: np.asarray(rows, np.float32)})[0]
    assert predictor.predict(rows) == expected.tolist()
    # and they are the sklearn model's labels too
    assert predictor.predict(rows) == saved.model.predict(np.asarray(rows)).tolist()


def test_custom_predictor_runs_load_preprocess_predict_postprocess(
    models: dict[str, Saved],
) -> None:
    saved = models["custom"]
    predictor = load_predictor(
        saved.dir, spec("gcr.io/my-project/my-cpr:1", VERTEXDEPLOY_PREDICTOR="predictor:Doubler")
    )
    assert predictor.predict([[1, 2], [3, 4.5]]) == [{"total": 6.0}, {"total": 15.0}]
    assert not (saved.dir / "__pycache__").exists()


@pytest.mark.parametrize(
    "image,framework",
    [
        ("us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest", "sklearn"),
        ("asia-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest", "sklearn"),
        ("sklearn-cpu.1-5", "sklearn"),
        ("europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest", "xgboost"),
        ("xgboost-cpu.1-7", "xgboost"),
        ("vertexdeploy/onnx:latest", "onnx"),
        ("us-docker.pkg.dev/vertex-ai/prediction/onnx-cpu:latest", "onnx"),
    ],
)
def test_framework_comes_from_the_image(image: str, framework: str) -> None:
    assert select_framework(spec(image)) == framework


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
        "gcr.io/my-project/sklearn-server:1",  # a custom image is not a prebuilt one
        "",
    ],
)
def test_unsupported_container_is_refused_listing_what_runs(
    image: str, models: dict[str, Saved]
) -> None:
    with pytest.raises(UnsupportedContainerError) as info:
        load_predictor(models["iris-lr"].dir, spec(image))
    message = str(info.value)
    for runnable in ("sklearn-cpu", "xgboost-cpu", "onnx", "VERTEXDEPLOY_PREDICTOR"):
        assert runnable in message
    assert isinstance(info.value, VertexDeployError)
    assert info.value.http_status == 400


def test_missing_model_file_names_what_was_found(models: dict[str, Saved]) -> None:
    with pytest.raises(ArtifactError, match="model.joblib.*found: config.json, predictor.py"):
        load_predictor(models["custom"].dir, spec(SKLEARN_IMAGE))


def test_pinned_sha256_is_checked_before_loading(models: dict[str, Saved]) -> None:
    saved = models["iris-lr"]
    good = artifact_sha256(saved.dir)
    load_predictor(saved.dir, spec(SKLEARN_IMAGE, VERTEXDEPLOY_ARTIFACT_SHA256=good))
    load_predictor(
        saved.dir, spec(SKLEARN_IMAGE, VERTEXDEPLOY_ARTIFACT_SHA256="sha256:" + good.upper())
    )
    with pytest.raises(ArtifactIntegrityError, match="sha256 mismatch"):
        load_predictor(saved.dir, spec(SKLEARN_IMAGE, VERTEXDEPLOY_ARTIFACT_SHA256="0" * 64))


def test_bad_instances_raise_input_error_with_the_models_message(models: dict[str, Saved]) -> None:
    predictor = load_predictor(models["iris-lr"].dir, spec(SKLEARN_IMAGE))
    with pytest.raises(PredictionInputError, match="X has 3 features"):
        predictor.predict([[1.0, 2.0, 3.0]])
    with pytest.raises(PredictionInputError):
        predictor.predict([[1.0, 2.0, 3.0, 4.0], [1.0]])
    xgb = load_predictor(models["bc-xgb-bst"].dir, spec(XGBOOST_IMAGE))
    with pytest.raises(PredictionInputError, match="[Ff]eature"):
        xgb.predict([[1.0, 2.0]])
    onnx = load_predictor(models["iris-onnx"].dir, spec("vertexdeploy/onnx"))
    with pytest.raises(PredictionInputError, match="dimension|Got"):
        onnx.predict([[1.0, 2.0]])
