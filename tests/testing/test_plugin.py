"""The pytest plugin, run on generated user test files with pytester (real emulator, real SDK)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
aiplatform = pytest.importorskip("google.cloud.aiplatform")
# Imported here so the in-process runs share them: pytester forgets the modules a run
# imports, and numpy cannot be imported twice in one process.
for _name in ("joblib", "sklearn.datasets", "sklearn.linear_model", "sklearn.tree"):
    pytest.importorskip(_name)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing" / "test_my_model.py"

MODEL = """
import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"
ROWS = [[5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("m") / "iris"
    path.mkdir()
    joblib.dump(LogisticRegression(max_iter=300).fit(x, y), path / "model.joblib")
    return path
"""


def test_user_code_calling_init_itself_reaches_the_emulator(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    pytester.makeconftest(MODEL)
    pytester.makepyfile(
        test_user="""
        import joblib
        from google.cloud import aiplatform
        from conftest import IMAGE, ROWS

        def publish(artifact_uri):  # the user's code: its own init, then the high-level SDK
            aiplatform.init(project="acme-ml", location="europe-west4")
            model = aiplatform.Model.upload(
                display_name="iris", artifact_uri=artifact_uri, serving_container_image_uri=IMAGE
            )
            endpoint = aiplatform.Endpoint.create(display_name="iris")
            endpoint.deploy(model, machine_type="n1-standard-2")
            return endpoint

        def test_publish_and_predict(vertex, model_dir):
            endpoint = publish(vertex.upload_dir(model_dir))
            response = endpoint.predict(instances=ROWS)
            local = joblib.load(model_dir / "model.joblib")
            assert response.predictions == local.predict(ROWS).tolist()
            assert endpoint.resource_name.startswith("projects/acme-ml/locations/europe-west4/")
            rpcs = [r.rpc for r in vertex.requests()]
            assert rpcs[-1] == "Predict" and "DeployModel" in rpcs
        """
    )
    result = pytester.runpytest(*plugin_args)
    result.assert_outcomes(passed=1)


def test_failures_are_reported_with_their_cause(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    pytester.makepyfile(
        test_fails="""
        import pytest
        from google.cloud import aiplatform

        def test_wrong_expectation(vertex):
            endpoint = aiplatform.Endpoint.create(display_name="ep")
            assert endpoint.display_name == "not-ep", "my expectation"

        def test_unserved_rpc(vertex):
            aiplatform.CustomJob.list()

        def test_leaves_a_fault_unused(vertex):
            vertex.fail_next("CreateEndpoint", count=5)

        def test_next_test_gets_no_leftover_fault(vertex):
            aiplatform.Endpoint.create(display_name="ok")

        def test_fault_fails_the_call(vertex):
            vertex.fail_next("CreateEndpoint", code=429)
            aiplatform.Endpoint.create(display_name="throttled")
        """
    )
    result = pytester.runpytest(*plugin_args, "-q", "--tb=short")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: my expectation*",
            "*MethodNotImplemented: 501 GET http://127.0.0.1:*/customJobs*"
            "does not serve GET /v1/projects/*/customJobs*",
            "*TooManyRequests: 429*Injected fault for CreateEndpoint*",
        ]
    )


def test_each_test_has_a_project_of_its_own(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    pytester.makepyfile(
        test_isolated="""
        import pytest
        from google.cloud import aiplatform

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_sees_only_its_endpoint(vertex, n):
            aiplatform.Endpoint.create(display_name=f"ep-{n}")
            assert [e.display_name for e in aiplatform.Endpoint.list()] == [f"ep-{n}"]
            assert aiplatform.initializer.global_config.project == vertex.project
        """
    )
    pytester.runpytest(*plugin_args).assert_outcomes(passed=3)


def test_sdk_config_is_restored_after_each_test(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    from google.cloud.aiplatform import initializer

    config = initializer.global_config
    before = dict(vars(config))
    aiplatform.init(project="outer-project", location="asia-east1")
    outer = dict(vars(config))
    try:
        pytester.makepyfile(
            test_config="""
            from google.cloud import aiplatform
            from google.cloud.aiplatform import initializer

            def test_uses_the_emulator(vertex):
                aiplatform.init(project="changed-by-user", staging_bucket="gs://user-bucket")
                config = initializer.global_config
                assert config.api_endpoint == vertex.url
                assert config.credentials.token == vertex.credentials.token

            def test_after_it_the_config_is_back():
                config = initializer.global_config
                assert (config.project, config.location) == ("outer-project", "asia-east1")
                assert config.api_endpoint is None and config.staging_bucket is None
            """
        )
        pytester.runpytest(*plugin_args, "-p", "no:randomly").assert_outcomes(passed=2)
        assert vars(config) == outer
    finally:
        vars(config).clear()
        vars(config).update(before)


def test_the_documented_example_passes(pytester: pytest.Pytester, plugin_args: list[str]) -> None:
    shutil.copy(EXAMPLE, pytester.path / EXAMPLE.name)
    result = pytester.runpytest(*plugin_args, "-q")
    result.assert_outcomes(passed=3)
