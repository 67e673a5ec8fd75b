"""The emulator is locked: every route wants its bearer token, and its files are the owner's.

Routes are taken from the app's own tables, so a route added later is covered here too.
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from emu_helpers import PARENT, SKLEARN_IMAGE, Clients, create_endpoint, deployed, put_model_files
from google.auth.exceptions import RefreshError
from google.cloud import aiplatform_v1 as v1
from google.oauth2.credentials import Credentials

from vertexdeploy.backends.emulator_credentials import EmulatorCredentials
from vertexdeploy.cli.emulator_cmd import emulator_group
from vertexdeploy.emulator import daemon
from vertexdeploy.emulator.app import ADMIN_ROUTES, STORAGE_ROUTES, VERTEX_ROUTES
from vertexdeploy.emulator.auth import TOKEN_FILE, read_token
from vertexdeploy.emulator.server import EmulatorServer
from vertexdeploy.errors import EmulatorError

WRONG = "x" * 43

# Deterministic stand-ins for the pieces the route regexes are built from.
_SAMPLES = [
    (r"projects/[^/]+/locations/[^/]+", "projects/p/locations/us-central1"),
    (r"(?:/[^/:]+/[^/:]+)*", ""),
    (r"[^/:@]+@[^/:@]+", "m@1"),
    (r"[^/:]+", "x1"),
    (r"[^/]+", "b1"),
    (r".+", "o/1.txt"),
]


def sample_path(pattern: re.Pattern[str]) -> str:
    """A concrete path that ``pattern`` matches in full."""
    text = pattern.pattern.removeprefix("^").removesuffix("$")
    for regex, value in _SAMPLES:
        text = text.replace(regex, value)
    text = re.sub(r"\(\?P<\w+>", "", text).replace(")", "")
    assert pattern.fullmatch(text), f"no sample path for {pattern.pattern}"
    return text


def every_route() -> list[tuple[str, str]]:
    """(method, path) for each entry of the Vertex, storage and admin route tables."""
    out = []
    for r in VERTEX_ROUTES:
        out += [
            (r.method, f"/v1/{sample_path(r.pattern)}"),
            (r.method, f"/ui/{sample_path(r.pattern)}"),
        ]
    out += [(r.method, sample_path(r.pattern)) for r in STORAGE_ROUTES]
    for admin in ADMIN_ROUTES:
        out += [(m, admin.path) for m in sorted(admin.methods or ()) if m != "HEAD"]
    out += [("GET", "/no/such/route"), ("HEAD", "/_emulator/health")]
    return out


ROUTES = every_route()


def call(
    url: str, method: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:  # /metrics, media downloads
        return status, raw


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("auth") / "emu") as server:
        yield server


def test_the_route_tables_are_all_here() -> None:
    assert len(VERTEX_ROUTES) >= 30 and len(STORAGE_ROUTES) >= 8 and len(ADMIN_ROUTES) >= 8
    paths = {p for _, p in ROUTES}
    for needed in ("/metrics", "/_emulator/health", "/_emulator/monitoring/run"):
        assert needed in paths
    assert any(p.endswith(":predict") for p in paths)
    assert any(p.startswith("/upload/storage/") for p in paths)


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {WRONG}", "Bearer ", "Basic dXNlcjpwYXNz", "{token}", "Bearer {token}x"],
    ids=["none", "wrong", "empty", "basic", "no-scheme", "longer"],
)
def test_every_route_refuses_a_request_without_the_token(
    emu: EmulatorServer, authorization: str | None
) -> None:
    before = emu.state.store.counts()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=emu.token)
    for method, path in ROUTES:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        status, answer = call(f"{emu.url}{path}", method, headers, body)
        assert status == 401, (method, path, status, answer)
        if method != "HEAD":
            assert answer["error"]["status"] == "UNAUTHENTICATED", (method, path)
            assert answer["error"]["code"] == 401
    assert emu.state.store.counts() == before
    assert emu.state.buckets.buckets() == []


def test_every_route_answers_with_the_token(emu: EmulatorServer) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"bearer {emu.token}"}
    for method, path in ROUTES:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        status, answer = call(f"{emu.url}{path}", method, headers, body)
        assert status != 401, (method, path, answer)
    status, answer = call(f"{emu.url}/_emulator/health", "GET", headers)
    assert status == 200 and answer["ok"] is True


def test_a_json_route_refuses_other_content_types(emu: EmulatorServer) -> None:
    auth = {"Authorization": f"Bearer {emu.token}"}
    body = json.dumps({"displayName": "e"}).encode()
    before = emu.state.store.counts()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/json"):
        headers = {**auth, "Content-Type": content_type}
        status, answer = call(f"{emu.url}/v1/{PARENT}/endpoints", "POST", headers, body)
        assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
        assert content_type in answer["error"]["message"]
        rule = json.dumps({"method": "GetModel", "code": 503}).encode()
        status, _ = call(f"{emu.url}/_emulator/faults", "POST", headers, rule)
        assert status == 400
    assert emu.state.store.counts() == before
    assert emu.state.faults.rules() == []
    headers = {**auth, "Content-Type": "application/json; charset=utf-8"}
    status, _ = call(f"{emu.url}/v1/{PARENT}/endpoints", "POST", headers, body)
    assert status == 200


PREDICTOR = """
from pathlib import Path


class Marker:
    def load(self, artifact_dir):
        Path({marker!r}).write_text("ran")

    def predict(self, instances):
        return instances
"""


def sdk(client: Any, url: str, token: str) -> Any:
    """A GAPIC REST client of type ``client`` on the emulator, sending ``token``."""
    return client(
        client_options={"api_endpoint": url},
        transport="rest",
        credentials=EmulatorCredentials(token),
    )


def custom_model(predictor_dir: str) -> v1.Model:
    return v1.Model(
        display_name="custom",
        artifact_uri=predictor_dir,
        container_spec=v1.ModelContainerSpec(
            image_uri="example.com/any:1",
            env=[v1.EnvVar(name="VERTEXDEPLOY_PREDICTOR", value="marker:Marker")],
        ),
    )


def test_a_custom_predictor_cannot_be_uploaded_or_deployed_without_the_token(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "predictor-ran"
    source = PREDICTOR.format(marker=str(marker)).encode()
    with EmulatorServer(tmp_path / "emu") as emu:
        upload_url = f"{emu.url}/upload/storage/v1/b/code/o?uploadType=media&name=m/marker.py"
        stranger_models = sdk(v1.ModelServiceClient, emu.url, WRONG)
        stranger_endpoints = sdk(v1.EndpointServiceClient, emu.url, WRONG)
        status, _ = call(upload_url, "POST", {"Content-Type": "text/x-python"}, source)
        assert status == 401
        with pytest.raises(EmulatorError, match="refused the bearer token"):
            stranger_models.upload_model(parent=PARENT, model=custom_model("gs://code/m"))
        assert emu.state.store.counts() == {} and emu.state.buckets.buckets() == []

        owner = Clients(emu.url, emu.token)
        put_model_files(emu.url, "iris", "code")  # the bucket, made by its owner
        status, _ = call(
            upload_url,
            "POST",
            {"Content-Type": "text/x-python", "Authorization": f"Bearer {emu.token}"},
            source,
        )
        assert status == 200
        model = owner.models.upload_model(
            request={"parent": PARENT, "model": custom_model("gs://code/m"), "model_id": "c"}
        ).result(timeout=30)
        endpoint = create_endpoint(owner, "1")
        with pytest.raises(EmulatorError):  # a stranger tries to run the owner's code
            stranger_endpoints.deploy_model(
                endpoint=endpoint.name,
                deployed_model=deployed(model.model, "11"),
                traffic_split={"11": 100},
            )
        assert not marker.exists()
        assert not owner.endpoints.get_endpoint(name=endpoint.name).deployed_models

        owner.endpoints.deploy_model(
            endpoint=endpoint.name, deployed_model=deployed(model.model, "11"), traffic_split={}
        ).result(timeout=30)
        assert marker.read_text() == "ran"  # the same call with the token does run it


def test_the_sdk_with_static_token_credentials_is_let_in(emu: EmulatorServer) -> None:
    creds = Credentials(token=emu.token)
    assert creds.valid and creds.expiry is None  # google-auth will not try to refresh it
    client = v1.ModelServiceClient(
        client_options={"api_endpoint": emu.url}, transport="rest", credentials=creds
    )
    list(client.list_models(parent=PARENT))  # let in
    wrong = v1.ModelServiceClient(
        client_options={"api_endpoint": emu.url},
        transport="rest",
        credentials=Credentials(token=WRONG),
    )
    with pytest.raises(RefreshError):  # google-auth answers the 401 by trying to refresh
        list(wrong.list_models(parent=PARENT))
    with pytest.raises(EmulatorError, match="VERTEXDEPLOY_EMULATOR_TOKEN"):
        list(sdk(v1.ModelServiceClient, emu.url, WRONG).list_models(parent=PARENT))


def modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and everything below it, by relative path."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_data_dir_is_0700_and_its_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    old = os.umask(0)  # everything created without an explicit mode would be world-writable
    try:
        with EmulatorServer(data) as emu:
            c = Clients(emu.url, emu.token)
            iris = v1.Model(
                display_name="iris",
                artifact_uri=put_model_files(emu.url, "nested/dir/iris", "bkt"),
                container_spec=v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE),
            )
            model = c.models.upload_model(
                request={"parent": PARENT, "model": iris, "model_id": "iris"}
            ).result(timeout=30)
            logged = v1.PredictRequestResponseLoggingConfig(enabled=True, sampling_rate=1.0)
            endpoint = create_endpoint(c, "2", predict_request_response_logging_config=logged)
            c.endpoints.deploy_model(
                endpoint=endpoint.name, deployed_model=deployed(model.model, "21")
            ).result(timeout=30)
            predictions = sdk(v1.PredictionServiceClient, emu.url, emu.token)
            predictions.predict(endpoint=endpoint.name, instances=[[5.1, 3.5, 1.4, 0.2]])
        found = modes(data)  # after stop: the request log is flushed by then
    finally:
        os.umask(old)
    assert {"state.db", TOKEN_FILE, "buckets/bkt/nested/dir/iris/model.joblib"} <= set(found)
    assert any(name.startswith("predictions/") for name in found)  # the request log
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_daemon_files_and_status_show_the_token_to_its_owner(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    info = daemon.start_detached(data)
    try:
        token = read_token(data)
        assert token and info.token == token and token not in repr(info)
        for name in ("emulator.json", "emulator.log", TOKEN_FILE):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        status, _ = call(f"{info.url}/_emulator/health", "GET", {})
        assert status == 401
        runner = CliRunner()
        shown = runner.invoke(
            emulator_group, ["status", "--data-dir", str(data), "--output", "json"]
        )
        assert shown.exit_code == 0, shown.output
        out = json.loads(shown.output)
        assert out["url"] == info.url and out["token"] == token
        text = runner.invoke(emulator_group, ["status", "--data-dir", str(data)]).output
        assert info.url in text and token not in text and str(data / TOKEN_FILE) in text
    finally:
        assert daemon.stop(data)
