"""A small stack for evaluation tests: a custom predictor that takes dict instances with a
key, one endpoint logging every request, and helpers to send traffic through the real SDK."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from vertexdeploy.cli.main import cli
from vertexdeploy.emulator.auth import auth_headers
from vertexdeploy.emulator.server import EmulatorServer

PREDICTOR = '''
import time

class Scorer:
    """Class 1 when x >= 0, else 0; probabilities as [p0, p1]. Sleeps DELAY_S and computes
    for BURN_S per call; holds ALLOC_MB of memory once loaded."""
    DELAY_S = 0.0
    BURN_S = 0.0
    ALLOC_MB = 0
    def load(self, artifact_dir):
        self.ballast = bytearray(b"x" * (self.ALLOC_MB * 1024 * 1024))
    def preprocess(self, instances):
        return instances
    def predict(self, instances):
        if self.DELAY_S:
            time.sleep(self.DELAY_S)
        start = time.thread_time()
        while time.thread_time() - start < self.BURN_S:
            sum(i * i for i in range(1000))
        return [[0.2, 0.8] if row["x"] >= 0 else [0.9, 0.1] for row in instances]
    def postprocess(self, rows):
        return rows
'''

MANIFEST = """
stack: evalstack
project: demo-project
region: us-central1
target: local
staging_bucket: gs://evalstack-staging
models:
  - name: scorer
    serving_container: sklearn-cpu.1-5
    predictor: scorer:Scorer
    versions:
      - {{artifact: {artifact}, aliases: [stable]}}
endpoints:
  - name: scores
    request_logging_rate: 1.0
    deployments:
      - name: main
        model: scorer@stable
        machine_type: n1-standard-4
        min_replicas: 1
        max_replicas: 2
{slo}
    traffic: {{main: 100}}
    monitoring:
      drift: {{default: 0.3}}
{monitoring}
"""

GROUND_TRUTH = """
      ground_truth:
        key_field: id
        label_field: label
        slices: [color, x]
        min_rows: 20
        thresholds: {min_accuracy: 0.8}
"""

COLORS = ("red", "green", "blue", "amber")


@dataclass
class EvalEmu:
    server: EmulatorServer
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def run(self, *args: str, columns: int | None = None) -> Result:
        env = {"COLUMNS": str(columns)} if columns else None
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)

    def admin(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **auth_headers(self.server.token)},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def stack(
        self,
        *,
        monitoring: str | None = GROUND_TRUTH,
        slo: str = "",
        delay_s: float = 0.0,
        burn_s: float = 0.0,
        alloc_mb: int = 0,
    ) -> str:
        """Write the artifact and the manifest; apply it; the manifest's path."""
        artifact = self.workdir / "scorer"
        artifact.mkdir(exist_ok=True)
        source = (
            PREDICTOR.replace("DELAY_S = 0.0", f"DELAY_S = {delay_s!r}")
            .replace("BURN_S = 0.0", f"BURN_S = {burn_s!r}")
            .replace("ALLOC_MB = 0", f"ALLOC_MB = {alloc_mb!r}")
        )
        (artifact / "scorer.py").write_text(source)
        (artifact / "model.joblib").write_bytes(b"unused: the predictor ignores it")
        path = self.workdir / "eval.yaml"
        text = MANIFEST.format(artifact=artifact, slo=slo, monitoring=monitoring)
        if monitoring is None:  # no monitoring block at all
            text = text.split("    monitoring:")[0]
        path.write_text(text)
        result = self.run("apply", "--auto-approve", str(path))
        assert result.exit_code == 0, result.output
        again = self.run("plan", "--detailed-exitcode", str(path))  # new fields read back
        assert again.exit_code == 0, again.output
        return str(path)

    def endpoint_name(self) -> str:
        from vertexdeploy import labels

        return "projects/demo-project/locations/us-central1/endpoints/" + labels.resource_id(
            "evalstack", "scores"
        )

    def predict(self, instances: list[dict[str, Any]], batch: int = 10) -> list[Any]:
        """Through the SDK's PredictionServiceClient, as users' services call it."""
        from google.cloud import aiplatform_v1
        from google.oauth2.credentials import Credentials

        client = aiplatform_v1.PredictionServiceClient(
            transport="rest",
            credentials=Credentials(token=self.server.token),
            client_options={"api_endpoint": self.url},
        )
        from google.protobuf import json_format, struct_pb2

        out: list[Any] = []
        for i in range(0, len(instances), batch):
            values = [
                json_format.ParseDict(x, struct_pb2.Value()) for x in instances[i : i + batch]
            ]
            resp = client.predict(
                endpoint=self.endpoint_name(),
                instances=values,
            )
            out += list(resp.predictions)
        self.wait_logged(len(instances))
        return out

    def wait_logged(self, n: int) -> None:
        """Until the request log holds ``n`` instances of the endpoint (its writer flushes in
        the background every 0.2 s): the join reads what is on disk."""
        import time

        from vertexdeploy.emulator.monitoring.logstore import LocalLogStore, log_dir

        store = LocalLogStore(log_dir(self.server.state.data_dir / "predictions.db"))
        for _ in range(600):
            if store.count(self.endpoint_name(), None, None, None)[1] >= n:
                return
            time.sleep(0.05)
        raise AssertionError(f"the request log never held {n} instances")


def instances(n: int) -> list[dict[str, Any]]:
    """n keyed instances: x spread around 0, colors in turn."""
    return [
        {"id": f"r{i}", "x": ((i * 37) % 200 - 100) / 10.0, "color": COLORS[i % len(COLORS)]}
        for i in range(n)
    ]


def truth_for(rows: list[dict[str, Any]], flip: Any = None) -> list[dict[str, Any]]:
    """The model's own answer as ground truth, with labels flipped where ``flip(row, i)``."""
    out = []
    for i, row in enumerate(rows):
        label = 1 if row["x"] >= 0 else 0
        if flip is not None and flip(row, i):
            label = 1 - label
        out.append({"id": row["id"], "label": label})
    return out
