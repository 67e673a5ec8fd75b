"""What `feedback` and `monitor` share: the manifest's endpoint, its backend, the names of its
deployed models, the evaluation store, and the log reader for the target."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vertexdeploy.errors import UsageError
from vertexdeploy.evaluation.reader import BigQueryLogReader, LocalLogReader, PredictionLogReader
from vertexdeploy.evaluation.store import EvaluationStore, store_path
from vertexdeploy.manifest import load_manifest
from vertexdeploy.manifest.spec import Manifest
from vertexdeploy.manifest.spec_endpoints import EndpointSpec

if TYPE_CHECKING:
    from vertexdeploy.kinds.backend import VertexBackend


@dataclass
class EndpointContext:
    manifest: Manifest
    endpoint: EndpointSpec

    @classmethod
    def load(cls, files: Sequence[str], endpoint: str) -> EndpointContext:
        loaded = load_manifest(files)
        spec = loaded.spec.endpoint(endpoint)
        if spec is None:
            known = ", ".join(e.name for e in loaded.spec.endpoints) or "none"
            raise UsageError(f"no endpoint {endpoint!r} in the manifest (endpoints: {known})")
        return cls(loaded.spec, spec)

    @cached_property
    def backend(self) -> VertexBackend:
        from vertexdeploy.kinds.backend import backend_for

        return backend_for(self.manifest)

    @cached_property
    def deployed_ids(self) -> dict[str, str]:
        """Logical deployment name -> deployed model id, live."""
        return dict(self.backend.deployed_ids(self.endpoint.name))

    @property
    def names(self) -> dict[str, str]:
        """Deployed model id -> logical name (an id not deployed any more stays an id)."""
        return {dm: name for name, dm in self.deployed_ids.items()}

    def store(self) -> EvaluationStore:
        return EvaluationStore(store_path(self.manifest.stack))

    def log_reader(self) -> PredictionLogReader:
        """The emulator's request log locally; the endpoint's BigQuery table on Vertex."""
        name = self.backend.endpoint_name(self.endpoint.name)
        if self.manifest.target == "local":
            from vertexdeploy.backends.connect import emulator_data_dir

            data_dir = emulator_data_dir()
            if not (data_dir / "token").exists():
                raise UsageError(
                    f"no emulator request log in {data_dir}: the join reads it in place; set "
                    "VERTEXDEPLOY_EMULATOR_DIR to the emulator's data dir"
                )
            return LocalLogReader(data_dir, name)
        table = self.endpoint.logging_table
        if not table:
            raise UsageError(
                f"endpoint {self.endpoint.name}: set request_logging.bigquery_table to join "
                "ground truth on target vertex"
            )
        return BigQueryLogReader(table, name.rsplit("/", 1)[-1], bigquery_runner(self.manifest))


def bigquery_runner(manifest: Manifest) -> Any:
    """google-cloud-bigquery's query, parameterised; not exercised against a real project."""
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise UsageError(
            "joining ground truth on target vertex needs google-cloud-bigquery "
            "(pip install google-cloud-bigquery)"
        ) from exc
    client = bigquery.Client(project=manifest.project)

    def run(query: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        def param(name: str, value: Any) -> Any:
            if isinstance(value, list):
                return bigquery.ArrayQueryParameter(name, "STRING", value)
            kind = "FLOAT64" if isinstance(value, float) else "STRING"
            return bigquery.ScalarQueryParameter(name, kind, value)

        config = bigquery.QueryJobConfig(query_parameters=[param(k, v) for k, v in params.items()])
        return (dict(row.items()) for row in client.query(query, job_config=config).result())

    return run
