"""The gs:// bucket store with the real google-cloud-storage client; faults; request log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from emu_helpers import PARENT, Clients, create_endpoint, credentials, deployed, http, upload
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import storage

from vertexdeploy.emulator.apierror import ApiError
from vertexdeploy.emulator.buckets import BucketStore
from vertexdeploy.emulator.server import EmulatorServer


@pytest.fixture
def gcs(emulator: EmulatorServer) -> storage.Client:
    return storage.Client(
        project="test-project",
        credentials=credentials(emulator.url),
        client_options={"api_endpoint": emulator.url},
    )


def test_storage_client_round_trip(
    gcs: storage.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    bucket = gcs.create_bucket("models-bucket")
    assert gcs.bucket("models-bucket").exists()
    with pytest.raises(gexc.Conflict):
        gcs.create_bucket("models-bucket")
    src = tmp_path / "model.joblib"
    src.write_bytes(b"weights" * 100)
    bucket.blob("m/v1/model.joblib").upload_from_filename(str(src))
    bucket.blob("m/v1/meta.json").upload_from_string('{"a": 1}')
    bucket.blob("m/v2/model.joblib").upload_from_string(b"two")
    bucket.blob("other.txt").upload_from_string(b"x")
    assert bucket.blob("m/v1/model.joblib").download_as_bytes() == b"weights" * 100
    names = [b.name for b in gcs.list_blobs("models-bucket", prefix="m/v1/")]
    assert names == ["m/v1/meta.json", "m/v1/model.joblib"]
    listing = gcs.list_blobs("models-bucket", prefix="m/", delimiter="/")
    assert list(listing) == [] and set(listing.prefixes) == {"m/v1/", "m/v2/"}
    blob = bucket.get_blob("m/v1/meta.json")
    assert blob is not None and blob.size == 8
    local = emulator.state.buckets.local_path("gs://models-bucket/m/v1/model.joblib")
    assert local.read_bytes() == b"weights" * 100
    bucket.blob("other.txt").delete()
    assert not bucket.blob("other.txt").exists()
    with pytest.raises(gexc.NotFound):
        bucket.blob("other.txt").download_as_bytes()
    with pytest.raises(gexc.NotFound):
        gcs.bucket("missing-bucket").blob("x").upload_from_string(b"x")


def test_resumable_upload_of_a_large_file(
    gcs: storage.Client, emulator: EmulatorServer, tmp_path: Path
) -> None:
    bucket = gcs.create_bucket("big")
    src = tmp_path / "big.bin"
    payload = os.urandom(9 * 1024 * 1024)  # over 8 MiB: the client switches to resumable
    src.write_bytes(payload)
    bucket.blob("big.bin").upload_from_filename(str(src))
    chunked = bucket.blob("chunked.bin", chunk_size=4 * 1024 * 1024)
    chunked.upload_from_string(payload)
    assert bucket.blob("big.bin").download_as_bytes() == payload
    assert bucket.blob("chunked.bin").download_as_bytes() == payload
    puts = [e for e in emulator.state.requests.since() if e["method"] == "PUT"]
    assert [e["status"] for e in puts] == [200, 308, 308, 200]


def test_local_path_refuses_escapes(tmp_path: Path) -> None:
    store = BucketStore(tmp_path)
    assert store.local_path("gs://bkt/a/b.txt") == tmp_path / "bkt" / "a" / "b.txt"
    assert store.local_path("gs://bkt/") == tmp_path / "bkt"
    for bad in ("gs://bkt/../x", "gs://bkt//etc/passwd", "gs://bkt/a\\b", "gs://BAD/x", "s3://b/x"):
        with pytest.raises(ApiError) as err:
            store.local_path(bad)
        assert err.value.status == "INVALID_ARGUMENT"
    store.write_bytes("gs://bkt/out/p.jsonl", b"{}")
    assert store.read_bytes("gs://bkt/out/p.jsonl") == b"{}"


def test_fault_injection_deploy_fails_twice_then_succeeds(clients: Clients) -> None:
    model = upload(clients).model
    ep = create_endpoint(clients)
    status, body = http(
        f"{clients.url}/_emulator/faults",
        "POST",
        {"method": "DeployModel", "code": 503, "count": 2},
    )
    assert status == 200 and body["faults"][0]["count"] == 2
    with pytest.raises(gexc.ServiceUnavailable):
        clients.endpoints.deploy_model(endpoint=ep.name, deployed_model=deployed(model, "7"))
    retry = Retry(predicate=if_exception_type(gexc.ServiceUnavailable), initial=0.01, maximum=0.02)
    op = clients.endpoints.deploy_model(
        endpoint=ep.name, deployed_model=deployed(model, "7"), retry=retry
    )
    assert op.result(30).deployed_model.id == "7"
    log = http(f"{clients.url}/_emulator/requests")[1]
    statuses = [e["status"] for e in log if e["rpc"] == "DeployModel"]
    assert statuses == [503, 503, 200]
    assert http(f"{clients.url}/_emulator/faults")[1] == {"faults": []}


def test_fault_latency_and_clear(clients: Clients) -> None:
    http(
        f"{clients.url}/_emulator/faults",
        "POST",
        {"method": "GetModel", "code": 0, "count": -1, "latency_s": 0.05},
    )
    with pytest.raises(gexc.NotFound):
        clients.models.get_model(name=f"{PARENT}/models/x")
    entry = [e for e in http(f"{clients.url}/_emulator/requests")[1] if e["rpc"] == "GetModel"][0]
    assert entry["duration_ms"] >= 50
    assert http(f"{clients.url}/_emulator/faults")[1]["faults"][0]["method"] == "GetModel"
    http(f"{clients.url}/_emulator/faults", "DELETE")
    assert http(f"{clients.url}/_emulator/faults")[1] == {"faults": []}
    status, body = http(f"{clients.url}/_emulator/faults", "POST", {"code": 503})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_request_log_counts_writes(clients: Clients) -> None:
    upload(clients)
    create_endpoint(clients)
    clients.models.get_model(name=f"{PARENT}/models/m1")
    log = http(f"{clients.url}/_emulator/requests")[1]
    writes = [e["rpc"] for e in log if e["write"] and not e["rpc"].startswith("storage.")]
    assert writes == ["UploadModel", "CreateEndpoint"]
    assert all(not e["path"].startswith("/_emulator") for e in log)
    assert {"ts", "method", "path", "rpc", "status", "duration_ms", "seq"} <= set(log[0])
    last = log[-1]["seq"]
    clients.models.get_model(name=f"{PARENT}/models/m1")
    newer = http(f"{clients.url}/_emulator/requests?since={last}")[1]
    assert [e["rpc"] for e in newer] == ["GetModel"]
    http(f"{clients.url}/_emulator/requests", "DELETE")
    assert http(f"{clients.url}/_emulator/requests")[1] == []
    assert http(f"{clients.url}/_emulator/health")[1]["ok"] is True
