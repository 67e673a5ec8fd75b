"""End to end through the emulator: the real SDK uploads, deploys and predicts over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.oauth2.credentials import Credentials
from serving_fixtures import SKLEARN_IMAGE, Saved

from vertexdeploy.emulator.server import EmulatorServer

PARENT = "projects/test-project/locations/us-central1"


def test_sdk_predict_is_served_by_the_deployed_model(
    tmp_path: Path, models: dict[str, Saved]
) -> None:
    saved = models["iris-lr"]
    with EmulatorServer(tmp_path / "emu") as emu:
        shutil.copytree(saved.dir, tmp_path / "emu" / "buckets" / "bkt" / "iris")
        kw: dict[str, Any] = {
            "client_options": {"api_endpoint": emu.url},
            "transport": "rest",
            "credentials": Credentials(token=emu.token),
        }
        ms, es = v1.ModelServiceClient(**kw), v1.EndpointServiceClient(**kw)
        ps = v1.PredictionServiceClient(**kw)
        model = (
            ms.upload_model(
                request={
                    "parent": PARENT,
                    "model_id": "iris",
                    "model": v1.Model(
                        display_name="iris",
                        artifact_uri="gs://bkt/iris",
                        container_spec=v1.ModelContainerSpec(image_uri=SKLEARN_IMAGE),
                    ),
                }
            )
            .result(timeout=30)
            .model
        )
        endpoint = es.create_endpoint(
            parent=PARENT, endpoint_id="ep", endpoint=v1.Endpoint(display_name="ep")
        ).result(timeout=30)
        es.deploy_model(
            endpoint=endpoint.name,
            deployed_model=v1.DeployedModel(
                id="11",
                model=model,
                dedicated_resources=v1.DedicatedResources(
                    machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1
                ),
            ),
            traffic_split={"0": 100},
        ).result(timeout=30)
        rows = saved.x[:10].tolist()
        out = ps.predict(endpoint=endpoint.name, instances=rows)
        assert list(out.predictions) == saved.model.predict(np.asarray(rows)).tolist()
        assert out.deployed_model_id == "11"
        assert out.model == f"{PARENT}/models/iris"
        assert out.model_display_name == "iris"
        with pytest.raises(gexc.BadRequest, match="X has 2 features"):
            ps.predict(endpoint=endpoint.name, instances=[[1.0, 2.0]])
