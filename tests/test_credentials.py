"""Credentials as gcloud users expect: short errors, the quota project on every request.

Nothing here reaches Google: ADC is pointed at an empty directory, the metadata server at a
closed local port, and the only token endpoint and API are a local server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from adc_support import TokenServer, adc_key, authorized_user_file, isolated_adc
from click.testing import CliRunner
from google.auth import exceptions as auth_exc

from vertexdeploy.backends import credentials
from vertexdeploy.backends.resilience import Caller, RetryPolicy
from vertexdeploy.cli.main import cli
from vertexdeploy.errors import CredentialsError

LOGIN = "gcloud auth application-default login"


VERTEX_MANIFEST = """\
stack: creds
project: acme-ml-prod
region: europe-west4
target: vertex
staging_bucket: gs://acme-ml-prod-staging
"""


def plan_vertex(tmp_path: Path, *flags: str) -> tuple[int, str, BaseException | None]:
    """``plan`` of a target-vertex manifest: the first thing it needs is credentials."""
    manifest = tmp_path / "vertex.yaml"
    manifest.write_text(VERTEX_MANIFEST)
    result = CliRunner().invoke(cli, [*flags, "plan", str(manifest)])
    return result.exit_code, result.stderr, result.exception


def assert_short(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3, lines
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_plan_without_credentials_says_how_to_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_adc(monkeypatch, tmp_path / "home")
    code, err, _ = plan_vertex(tmp_path)
    assert code == 1
    assert_short(err, "No Google Cloud credentials found", LOGIN, "GOOGLE_APPLICATION_CREDENTIALS")


def test_debug_shows_the_original_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated_adc(monkeypatch, tmp_path / "home")
    code, _, exc = plan_vertex(tmp_path, "--debug")
    assert isinstance(exc, CredentialsError)
    assert isinstance(exc.__cause__, auth_exc.DefaultCredentialsError)


def test_a_key_file_that_is_not_there_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_adc(monkeypatch, tmp_path / "home")
    missing = tmp_path / "gone.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
    code, err, _ = plan_vertex(tmp_path)
    assert code == 1
    assert_short(err, f"GOOGLE_APPLICATION_CREDENTIALS={missing}", "was not found", LOGIN)


def test_refused_credentials_end_with_a_short_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with adc_key(monkeypatch, tmp_path, refuse=True) as server:
        code, err, _ = plan_vertex(tmp_path)
    assert code == 1
    assert_short(err, "expired or revoked", "invalid_grant", LOGIN)
    assert [p for m, p, _h in server.seen] == ["/token"]  # refreshed locally, nothing else sent


@pytest.mark.parametrize(
    "exc",
    [
        auth_exc.RefreshError("invalid_grant: Token has been expired or revoked.", {"e": 1}),
        auth_exc.DefaultCredentialsError("Your default credentials were not found."),
    ],
)
def test_auth_errors_inside_an_api_call_are_translated(exc: Exception) -> None:
    """A token refused on a later request (the SDK raises from inside the call)."""

    def call() -> None:
        raise exc

    caller = Caller("test", retry=RetryPolicy(attempts=3), sleep=lambda _s: None)
    with pytest.raises(CredentialsError) as raised:
        caller("endpoint.main", call)
    assert LOGIN in str(raised.value)
    assert len(str(raised.value).splitlines()) <= 2


def test_the_credentials_project_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with adc_key(monkeypatch, tmp_path, project="adc-project") as server:
        auth = credentials.application_default()
        assert credentials.application_default() is auth  # looked up once
    assert auth.project == "adc-project"
    assert auth.credentials.token == "local-token"  # fetched up front, at the local server
    assert [p for _m, p, _h in server.seen] == ["/token"]


@pytest.mark.parametrize(
    ("env_quota", "expected"), [(None, "file-quota"), ("env-quota", "env-quota")]
)
def test_the_quota_project_reaches_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_quota: str | None, expected: str
) -> None:
    """Vertex AI (GAPIC over REST) and Cloud Storage clients, built with the backend's
    arguments, send ``x-goog-user-project``: the ADC file's quota project, or
    GOOGLE_CLOUD_QUOTA_PROJECT over it."""
    from google.cloud import storage  # type: ignore[attr-defined]
    from google.cloud.aiplatform_v1 import EndpointServiceClient

    isolated_adc(monkeypatch, tmp_path / "home")
    adc = authorized_user_file(tmp_path / "adc.json", "file-quota")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    if env_quota:
        monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", env_quota)
    with TokenServer() as server:
        vertex = EndpointServiceClient(transport="rest", **credentials.client_kwargs(server.url))
        assert list(vertex.list_endpoints(parent="projects/p-proj/locations/us-central1")) == []
        gcs = storage.Client(project="p-proj", **credentials.client_kwargs(server.url))
        gcs.bucket("b-b").exists()
    for prefix in ("/v1/projects/p-proj/locations/us-central1/endpoints", "/storage/v1/b/b-b"):
        sent = server.headers_of(prefix)
        assert sent, (prefix, server.seen)
        assert {h.get("x-goog-user-project") for h in sent} == {expected}
        assert {h.get("authorization") for h in sent} == {"Bearer local-token"}


def test_vertex_clients_use_the_adc_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertexdeploy.backends.api import Connection, VertexApi

    isolated_adc(monkeypatch, tmp_path / "home")
    adc = authorized_user_file(tmp_path / "adc.json", "billing-proj")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    kwargs = VertexApi(Connection("p-proj", "europe-west4"), "s")._client_kwargs()
    assert kwargs["credentials"] is credentials.application_default().credentials
    assert kwargs["client_options"] == {
        "api_endpoint": "europe-west4-aiplatform.googleapis.com",
        "quota_project_id": "billing-proj",
    }
