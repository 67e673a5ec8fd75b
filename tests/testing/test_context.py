"""``emulated_vertex()`` and the handle's helpers, against a real emulator over HTTP."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vertexdeploy.emulator import faults
from vertexdeploy.testing import EmulatedVertex, emulated_vertex, served_rpcs
from vertexdeploy.testing.served import ANY_WRITE

aiplatform = pytest.importorskip("google.cloud.aiplatform")
from google.api_core import exceptions  # noqa: E402
from google.cloud.aiplatform import initializer  # noqa: E402


@pytest.fixture(scope="module")
def kit() -> Iterator[EmulatedVertex]:
    with emulated_vertex(project="context-tests") as vertex:
        yield vertex


def _faults(vertex: EmulatedVertex) -> list[dict[str, object]]:
    req = urllib.request.Request(
        f"{vertex.url}/_emulator/faults", headers={"Authorization": f"Bearer {vertex.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        rules: list[dict[str, object]] = json.loads(resp.read())["faults"]
        return rules


def test_config_is_put_back_exactly_and_the_emulator_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    config = initializer.global_config
    before = dict(vars(config))
    aiplatform.init(project="outer-project", location="asia-east1", api_transport="grpc")
    outer = dict(vars(config))
    try:
        with emulated_vertex(location="europe-west4") as vertex:
            assert (config.project, config.location) == (vertex.project, "europe-west4")
            endpoint = aiplatform.Endpoint.create(display_name="in-block")
            assert endpoint.resource_name.startswith(f"projects/{vertex.project}/")
            assert os.environ["STORAGE_EMULATOR_HOST"] == vertex.url
        assert vars(config) == outer
        assert os.environ["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{vertex.url}/_emulator/health", timeout=5)
    finally:
        vars(config).clear()
        vars(config).update(before)


def test_an_unserved_sdk_call_names_the_route(kit: EmulatedVertex) -> None:
    with pytest.raises(exceptions.MethodNotImplemented) as caught:
        aiplatform.CustomJob.list()
    assert "does not serve GET /v1/projects/context-tests/locations/us-central1/customJobs" in (
        str(caught.value)
    )
    assert kit.requests()[-1].status == 501


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),  # not an API path
        ("POST", "/v1/projects/p/locations/us-central1/models/m1"),  # served path, no such verb
    ],
)
def test_other_unknown_urls_are_still_not_found(
    kit: EmulatedVertex, method: str, path: str
) -> None:
    req = urllib.request.Request(
        f"{kit.url}{path}",
        data=b"{}" if method == "POST" else None,
        method=method,
        headers={"Authorization": f"Bearer {kit.token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 404


def test_fault_helpers_refuse_an_rpc_that_does_not_exist(kit: EmulatedVertex) -> None:
    with pytest.raises(ValueError, match="'predict'.*Did you mean Predict"):
        kit.fail_next("predict")
    with pytest.raises(ValueError, match="No RPC named 'Explain'"):
        kit.delay("Explain", 1.0)
    assert ANY_WRITE == faults.ANY_WRITE
    assert {"Predict", "DeployModel", "UploadModel", "storage.objects.insert"} <= set(served_rpcs())


def test_delay_and_fail_next_become_emulator_rules_that_reset_drops(kit: EmulatedVertex) -> None:
    kit.delay("Predict", 0.25)
    kit.fail_next(ANY_WRITE, code=500, count=2)
    rules = _faults(kit)
    assert [(r["method"], r["code"], r["count"], r["latency_s"]) for r in rules] == [
        ("Predict", 0, -1, 0.25),
        ("*", 500, 2, 0.0),
    ]
    with pytest.raises(exceptions.InternalServerError):
        aiplatform.Endpoint.create(display_name="refused")
    kit.reset()
    assert _faults(kit) == [] and kit.requests() == []
    aiplatform.Endpoint.create(display_name="accepted")
    assert [(r.rpc, r.status) for r in kit.requests()] == [("CreateEndpoint", 200)]


def test_a_bad_fault_code_is_refused_by_the_emulator(kit: EmulatedVertex) -> None:
    from vertexdeploy.testing import EmulatorAdminError

    with pytest.raises(EmulatorAdminError, match="Bad fault code 200"):
        kit.fail_next("Predict", code=200)


def test_upload_dir_copies_a_tree_and_refuses_nothing_to_copy(
    kit: EmulatedVertex, tmp_path: Path
) -> None:
    model = tmp_path / "my-model"
    (model / "assets").mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"\x00weights")
    (model / "assets" / "vocab.txt").write_text("a b")
    uri = kit.upload_dir(model)
    assert uri == "gs://context-tests-artifacts/my-model"
    assert kit.upload_dir(model) == uri  # again: same place, the bucket already exists
    req = urllib.request.Request(
        f"{kit.url}/storage/v1/b/context-tests-artifacts/o?prefix=my-model/",
        headers={"Authorization": f"Bearer {kit.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        names = sorted(item["name"] for item in json.loads(resp.read())["items"])
    assert names == ["my-model/assets/vocab.txt", "my-model/model.joblib"]
    with pytest.raises(ValueError, match="holds no files"):
        kit.upload_dir(_empty(tmp_path))
    with pytest.raises(NotADirectoryError):
        kit.upload_dir(model / "model.joblib")


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.mkdir()
    return path


def test_the_sdk_stages_a_local_model_directory_in_the_bucket_store(
    kit: EmulatedVertex, tmp_path: Path
) -> None:
    import joblib
    from google.cloud import storage
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model_dir = tmp_path / "iris"
    model_dir.mkdir()
    trained = LogisticRegression(max_iter=300).fit(x, y)
    joblib.dump(trained, model_dir / "model.joblib")
    storage.Client(credentials=kit.credentials).create_bucket("user-staging")

    model = aiplatform.Model.upload(
        display_name="local",
        artifact_uri=str(model_dir),  # a local directory: the SDK uploads it to staging
        serving_container_image_uri="us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest",
        staging_bucket="gs://user-staging",
    )

    assert model.uri.startswith("gs://user-staging/")
    endpoint = model.deploy(machine_type="n1-standard-2")
    rows = x[[0, 60, 120]].tolist()
    assert endpoint.predict(instances=rows).predictions == trained.predict(rows).tolist()


def test_a_handle_aims_the_sdk_at_its_project_for_a_block(kit: EmulatedVertex) -> None:
    config = initializer.global_config
    shared = kit.for_project("shared-setup", "europe-west4")
    with shared.sdk():
        endpoint = aiplatform.Endpoint.create(display_name="deployed-once")
    assert (config.project, config.location) == ("context-tests", "us-central1")
    assert endpoint.resource_name.startswith("projects/shared-setup/locations/europe-west4/")
    assert aiplatform.Endpoint(endpoint.resource_name).display_name == "deployed-once"
