"""The ServingEngine facade: deploy hooks, Vertex-shaped responses, logging, mirroring."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_fixtures import SKLEARN_IMAGE, Saved, spec

from vertexdeploy.emulator.serving.artifacts import artifact_sha256
from vertexdeploy.emulator.serving.engine import ServingConfig, ServingEngine
from vertexdeploy.emulator.serving.errors import (
    ArtifactIntegrityError,
    NoDeployedModelError,
    PayloadTooLargeError,
    PredictionInputError,
    UnsupportedContainerError,
)
from vertexdeploy.emulator.serving.predictlog import read_records

EP = "projects/p/locations/us-central1/endpoints/ep1"
MODEL = "projects/p/locations/us-central1/models/iris"


def model_doc(saved: Saved, image: str = SKLEARN_IMAGE, **env: str) -> dict[str, Any]:
    return {
        "name": MODEL,
        "displayName": "iris",
        "versionId": "3",
        "artifactUri": saved.uri,
        "containerSpec": spec(image, **env),
    }


def engine(tmp_path: Path, bucket_root: Path, **cfg: Any) -> ServingEngine:
    return ServingEngine(tmp_path, bucket_root, seed=42, config=ServingConfig(**cfg))


def test_predict_returns_vertex_predict_response(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    saved = models["iris-lr"]
    rows = saved.x[40:60].tolist()

    async def main() -> dict[str, Any]:
        eng = engine(tmp_path, bucket_root)
        await eng.on_deploy(EP, {"id": "111", "model": MODEL + "@3"}, model_doc(saved))
        eng.on_traffic(EP, {"111": 100})
        out = await eng.predict(EP, json.dumps({"instances": rows}).encode())
        raw = await eng.raw_predict(EP, json.dumps({"instances": rows[:2]}).encode())
        assert json.loads(raw.body) == {"predictions": out["predictions"][:2]}
        assert raw.headers()["X-Vertex-AI-Deployed-Model-Id"] == "111"
        await eng.close()
        return out

    out = asyncio.run(main())
    assert out == {
        "predictions": saved.model.predict(np.asarray(rows)).tolist(),
        "deployedModelId": "111",
        "model": MODEL,
        "modelDisplayName": "iris",
        "modelVersionId": "3",
    }


def test_deploy_refuses_unsupported_containers_and_wrong_sha(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    saved = models["iris-lr"]

    async def main() -> None:
        eng = engine(tmp_path, bucket_root)
        with pytest.raises(UnsupportedContainerError) as info:
            await eng.on_deploy(EP, {"id": "1"}, model_doc(saved, "tf2-cpu.2-15"))
        assert info.value.to_envelope()["error"]["status"] == "FAILED_PRECONDITION"
        with pytest.raises(ArtifactIntegrityError):
            await eng.on_deploy(
                EP, {"id": "1"}, model_doc(saved, VERTEXDEPLOY_ARTIFACT_SHA256="ab" * 32)
            )
        await eng.on_deploy(
            EP,
            {"id": "1"},
            model_doc(saved, VERTEXDEPLOY_ARTIFACT_SHA256=artifact_sha256(saved.dir)),
        )
        assert eng.registry.get(EP, "1") is not None
        await eng.close()

    asyncio.run(main())


def test_bad_requests_are_400s_with_the_models_message(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    async def main() -> None:
        eng = engine(tmp_path, bucket_root, max_body_bytes=1000)
        with pytest.raises(NoDeployedModelError):
            await eng.predict(EP, b'{"instances": [[1, 2, 3, 4]]}')
        await eng.on_deploy(EP, {"id": "1"}, model_doc(models["iris-lr"]))
        eng.on_traffic(EP, {"1": 100})
        with pytest.raises(PredictionInputError, match="X has 2 features"):
            await eng.predict(EP, b'{"instances": [[1, 2]]}')
        with pytest.raises(PredictionInputError, match="Invalid JSON"):
            await eng.predict(EP, b"{nope")
        with pytest.raises(PredictionInputError, match="instances"):
            await eng.predict(EP, b'{"instance": []}')
        with pytest.raises(PayloadTooLargeError, match="exceeds the limit: 1000 bytes"):
            await eng.predict(EP, json.dumps({"instances": [[1.0] * 4] * 100}).encode())
        summary = eng.metrics_summary(EP)["1"]
        assert summary["requestCount"] == 1 and summary["errorCount"] == 1
        await eng.close()

    asyncio.run(main())


def test_concurrent_predicts_across_split_swap_and_undeploy_all_succeed(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    stable, candidate = models["iris-lr"], models["iris-lr-weak"]
    rows = stable.x.tolist()

    async def main() -> dict[str, int]:
        eng = engine(tmp_path, bucket_root)
        await eng.on_deploy(EP, {"id": "stable"}, model_doc(stable))
        await eng.on_deploy(EP, {"id": "cand"}, model_doc(candidate))
        eng.on_traffic(EP, {"stable": 100, "cand": 0})
        served: dict[str, int] = {"stable": 0, "cand": 0}

        async def client(k: int) -> None:
            for i in range(30):
                row = rows[(k * 30 + i) % len(rows)]
                out = await eng.predict(EP, {"instances": [row]})
                want = (stable if out["deployedModelId"] == "stable" else candidate).model
                assert out["predictions"] == want.predict(np.asarray([row])).tolist()
                served[out["deployedModelId"]] += 1

        clients = [asyncio.ensure_future(client(k)) for k in range(16)]
        await asyncio.sleep(0.01)
        eng.on_traffic(EP, {"stable": 50, "cand": 50})
        await asyncio.sleep(0.01)
        eng.on_traffic(EP, {"cand": 100})
        await eng.on_undeploy(EP, "stable")
        await asyncio.gather(*clients)
        await eng.close()
        return served

    served = asyncio.run(main())
    assert sum(served.values()) == 16 * 30
    assert served["cand"] > 0


@pytest.mark.parametrize("rate,n", [(0.25, 2000), (1.0, 300)])
def test_sampled_request_response_logging(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved], rate: float, n: int
) -> None:
    saved = models["iris-lr"]
    endpoint_doc = {
        "trafficSplit": {"1": 100},
        "predictRequestResponseLoggingConfig": {"enabled": True, "samplingRate": rate},
    }

    async def main() -> None:
        eng = engine(tmp_path, bucket_root)
        await eng.on_deploy(EP, {"id": "1"}, model_doc(saved))
        for i in range(n):
            await eng.predict(
                EP,
                {"instances": [saved.x[i % 150].tolist(), [i, 0, 0, 0]]},
                endpoint_doc=endpoint_doc,
            )
        await eng.close()  # flushes the log

    asyncio.run(main())
    rows = list(read_records(tmp_path / "predictions.db", EP))
    if rate == 1.0:
        assert len(rows) == n
        assert len({r["request_id"] for r in rows}) == n
        assert sorted(r["instances"][1][0] for r in rows) == list(range(n))
    else:
        assert abs(len(rows) / n - rate) <= 0.03
    first = rows[0]
    assert first["deployed_model_id"] == "1" and first["status"] == 200
    assert first["predictions"] == saved.model.predict(np.asarray(first["instances"])).tolist()
    assert first["latency_ms"] > 0


def test_mirroring_measures_candidate_vs_stable_disagreement(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    stable, candidate = models["iris-lr"], models["iris-lr-weak"]
    rows = stable.x.tolist()

    async def main() -> dict[str, Any]:
        eng = engine(tmp_path, bucket_root)
        await eng.on_deploy(EP, {"id": "stable"}, model_doc(stable))
        await eng.on_deploy(EP, {"id": "cand"}, model_doc(candidate))
        eng.on_traffic(EP, {"stable": 100})
        eng.set_mirror(EP, 1.0)
        for row in rows:
            await eng.predict(EP, {"instances": [row]})
        await eng.drain_background()
        result = eng.disagreement(EP, "cand", "stable")
        await eng.close()
        return result

    result = asyncio.run(main())
    x = np.asarray(rows)
    expected = float(np.mean(stable.model.predict(x) != candidate.model.predict(x)))
    assert result == {
        "metric": "labelDisagreement",
        "value": pytest.approx(expected),
        "sampleCount": len(rows),
    }


def test_prometheus_text_covers_deployed_models(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    async def main() -> str:
        eng = engine(tmp_path, bucket_root)
        await eng.on_deploy(EP, {"id": "1"}, model_doc(models["iris-lr"]))
        eng.on_traffic(EP, {"1": 100})
        await asyncio.gather(
            *(eng.predict(EP, {"instances": [[5.0, 3.0, 1.0, 0.2]]}) for _ in range(10))
        )
        text = eng.prometheus_text()
        await eng.close()
        return text

    text = asyncio.run(main())
    labels = f'{{endpoint="{EP}",deployed_model_id="1"}}'
    assert f"vertexdeploy_predict_requests_total{labels} 10" in text
    assert f"vertexdeploy_predict_queue_depth{labels} 0" in text
    calls = int(text.split(f"vertexdeploy_predict_model_calls_total{labels} ")[1].split()[0])
    assert 1 <= calls < 10


def test_synchronous_hooks_for_a_sync_control_plane(
    tmp_path: Path, bucket_root: Path, models: dict[str, Saved]
) -> None:
    saved = models["iris-lr"]
    eng = engine(tmp_path, bucket_root)
    meta = eng.deploy(EP, {"id": "1", "model": MODEL}, model_doc(saved))
    assert meta.kind == "sklearn" and meta.version_id == "3"
    with pytest.raises(UnsupportedContainerError):
        eng.deploy(EP, {"id": "2"}, model_doc(saved, "tf2-cpu.2-15"))

    async def main() -> None:
        eng.on_traffic(EP, {"1": 100})
        held = eng.registry.route(EP)  # a request in flight
        eng.begin_undeploy(EP, "1")
        with pytest.raises(NoDeployedModelError):
            await eng.predict(EP, {"instances": [[1.0, 2.0, 3.0, 4.0]]})
        await asyncio.sleep(0)
        assert eng.registry.get(EP, "1") is not None  # drains first
        held.release()
        await eng.drain_background()
        assert eng.registry.get(EP, "1") is None
        await eng.close()

    asyncio.run(main())
