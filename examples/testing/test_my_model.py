"""Testing your Vertex AI code against the local emulator: a complete example.

With vertexdeploy installed, ``pytest examples/testing/test_my_model.py`` runs it: the
``vertex`` fixture comes from vertexdeploy's pytest plugin and points ``aiplatform`` at a
local emulator, in a project of this test's own. Nothing is mocked: the real SDK sends real
requests, and the emulator loads the real models and predicts with them.
"""

from __future__ import annotations

import time
from pathlib import Path

import joblib
import pytest
from google.api_core import exceptions
from google.cloud import aiplatform
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from vertexdeploy.testing import EmulatedVertex

# ---- the code under test: in your project it lives in your package ----------------------

SKLEARN_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def register_model(artifact_uri: str, name: str) -> aiplatform.Model:
    return aiplatform.Model.upload(
        display_name=name, artifact_uri=artifact_uri, serving_container_image_uri=SKLEARN_IMAGE
    )


def roll_out(
    endpoint: aiplatform.Endpoint,
    stable: aiplatform.Model,
    canary: aiplatform.Model,
    canary_percent: int = 10,
) -> None:
    """Serve ``stable``, then send ``canary_percent`` of the traffic to ``canary``."""
    for model, name, share in ((stable, "stable", 100), (canary, "canary", canary_percent)):
        endpoint.deploy(
            model,
            deployed_model_display_name=name,
            machine_type="n1-standard-2",
            traffic_percentage=share,
        )


def predict_with_retry(
    endpoint: aiplatform.Endpoint, instances: list[list[float]], attempts: int = 3
) -> aiplatform.models.Prediction:
    """Predict, retrying UNAVAILABLE (503) with a short backoff."""
    for attempt in range(attempts):
        try:
            return endpoint.predict(instances=instances)
        except exceptions.ServiceUnavailable:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")


# ---- the tests ------------------------------------------------------------------------

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small trained models, each in a directory as Vertex AI expects them."""
    x, y = load_iris(return_X_y=True)
    dirs = {}
    for name, estimator in (
        ("iris-v1", LogisticRegression(max_iter=300)),
        ("iris-v2", DecisionTreeClassifier(max_depth=2, random_state=0)),
    ):
        path = tmp_path_factory.mktemp("models") / name
        path.mkdir()
        joblib.dump(estimator.fit(x, y), path / "model.joblib")
        dirs[name] = path
    return dirs


@pytest.fixture
def endpoint(vertex: EmulatedVertex, model_dirs: dict[str, Path]) -> aiplatform.Endpoint:
    """An endpoint serving iris-v1 with 10% of the traffic on iris-v2."""
    stable = register_model(vertex.upload_dir(model_dirs["iris-v1"]), "iris")
    canary = register_model(vertex.upload_dir(model_dirs["iris-v2"]), "iris")
    endpoint = aiplatform.Endpoint.create(display_name="iris")
    roll_out(endpoint, stable, canary, canary_percent=10)
    return endpoint


def test_rollout_splits_90_10_and_serves_the_models(
    endpoint: aiplatform.Endpoint, model_dirs: dict[str, Path]
) -> None:
    ids = {d.display_name: d.id for d in endpoint.list_models()}
    assert endpoint.traffic_split == {ids["stable"]: 90, ids["canary"]: 10}

    response = endpoint.predict(instances=ROWS)

    served = {v: k for k, v in ids.items()}[response.deployed_model_id]
    local = joblib.load(model_dirs["iris-v1" if served == "stable" else "iris-v2"] / "model.joblib")
    assert [int(p) for p in response.predictions] == local.predict(ROWS).tolist()


def test_predict_retries_when_vertex_is_unavailable(
    vertex: EmulatedVertex, endpoint: aiplatform.Endpoint
) -> None:
    vertex.fail_next("Predict", code=503, count=2)

    response = predict_with_retry(endpoint, ROWS)

    assert len(response.predictions) == len(ROWS)
    assert [r.status for r in vertex.requests(rpc="Predict")] == [503, 503, 200]


def test_predict_gives_up_after_three_attempts(
    vertex: EmulatedVertex, endpoint: aiplatform.Endpoint
) -> None:
    vertex.fail_next("Predict", code=503, count=3)

    with pytest.raises(exceptions.ServiceUnavailable):
        predict_with_retry(endpoint, ROWS)
    assert len(vertex.requests(rpc="Predict")) == 3
