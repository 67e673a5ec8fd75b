"""Where logged predictions come from: one small reader interface, two implementations.

Locally the emulator's request-response log (its data dir, read in place: the local stand-in
for BigQuery); on ``target: vertex`` the BigQuery table the endpoint logs to
(``request_logging.bigquery_table``). The join only sees ``LoggedPrediction`` rows, one per
instance, so it is one code path for both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class LoggedPrediction:
    """One instance of one logged request, with the model's answer for it."""

    key: str
    ts: float
    deployed_model_id: str
    instance: dict[str, Any]
    prediction: Any
    request_id: str = ""


class PredictionLogReader(Protocol):
    """Reads an endpoint's logged predictions whose instance carries ``key_field``.

    ``keys`` narrows the read to those keys (the join runs where the log is: DuckDB locally,
    BigQuery on Vertex); ``count_keyed`` says how many keyed instances there were at all.
    """

    where: str  # shown to people: which log was read

    def read(
        self,
        key_field: str,
        keys: Collection[str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LoggedPrediction]: ...

    def count_keyed(
        self, key_field: str, since: float | None = None, until: float | None = None
    ) -> int: ...


def key_text(value: Any) -> str | None:
    """A key as text; 1, 1.0 and "1" are one key. None when there is none."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class LocalLogReader:
    """The emulator's request-response log (Parquet, read with DuckDB through the log
    store's seam) for one endpoint: successful requests only, one row per instance."""

    def __init__(self, data_dir: str | Path, endpoint_name: str) -> None:
        from vertexdeploy.emulator.monitoring.logstore import LocalLogStore, log_dir

        self.data_dir = Path(data_dir)
        self.endpoint_name = endpoint_name
        self.store = LocalLogStore(log_dir(self.data_dir / "predictions.db"))
        self.where = f"the emulator's request log in {self.data_dir}"

    def _sql(
        self, key_field: str, since: float | None, until: float | None, select: str, join: str = ""
    ) -> tuple[str, list[Any]]:
        where = [
            "p.endpoint = ?",
            "p.status = 200",
            "p.fmt = 'dict'",
            "json_extract_string(p.instance, ?) IS NOT NULL",
        ]
        args: list[Any] = [self.endpoint_name, _json_path(key_field)]
        if since is not None:
            where.append("p.ts >= ?")
            args.append(since)
        if until is not None:
            where.append("p.ts < ?")
            args.append(until)
        keyed = (
            "SELECT p.*, json_extract_string(p.instance, ?) AS key FROM predictions p "
            f"WHERE {' AND '.join(where)}"
        )
        return f"WITH keyed AS ({keyed}) SELECT {select} FROM keyed k {join}", [
            _json_path(key_field),
            *args,
        ]

    def count_keyed(
        self, key_field: str, since: float | None = None, until: float | None = None
    ) -> int:
        sql, args = self._sql(key_field, since, until, "COUNT(*)")
        with self.store.connect() as con:
            return int(con.execute(sql, args).fetchone()[0])  # type: ignore[index]

    def read(
        self,
        key_field: str,
        keys: Collection[str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LoggedPrediction]:
        select = (
            "k.request_id, k.ts, k.deployed_model_id, k.key, k.instance, "
            "json_extract(f.predictions, '$[' || CAST(k.instance_index AS VARCHAR) || ']')"
        )
        join = (
            "JOIN (SELECT request_id, predictions FROM predictions WHERE instance_index = 0) f "
            "USING (request_id)"
        )
        if keys is not None:
            join += " JOIN truth_keys t ON t.key = k.key"
        sql, args = self._sql(key_field, since, until, select, join)
        with self.store.connect() as con:
            if keys is not None:
                import pyarrow as pa

                con.register("truth_keys", pa.table({"key": pa.array(sorted(keys), pa.string())}))
            cursor = con.execute(sql + " ORDER BY k.ts", args)
            while batch := cursor.fetchmany(4096):
                for request_id, ts, dm, key, instance, prediction in batch:
                    yield LoggedPrediction(
                        str(key),
                        float(ts),
                        str(dm),
                        json.loads(instance),
                        None if prediction is None else json.loads(prediction),
                        str(request_id),
                    )


def _json_path(key_field: str) -> str:
    return "$." + json.dumps(key_field)


# Runs a parameterised query, yields rows as dicts (google-cloud-bigquery's Client.query).
QueryRunner = Callable[[str, dict[str, Any]], Iterable[dict[str, Any]]]


class BigQueryLogReader:
    """Vertex AI's request-response log table in BigQuery, read with one SQL query.

    The table's schema is Vertex's: ``endpoint``, ``deployed_model_id``, ``logging_time``,
    ``request_id``, ``request_payload`` and ``response_payload`` (arrays of JSON text, one
    element per instance / prediction). Not exercised against a real project here: the SQL is
    built and checked, and ``runner`` (google-cloud-bigquery) is the caller's.
    """

    def __init__(self, table: str, endpoint_id: str, runner: QueryRunner | None = None) -> None:
        self.table = table.removeprefix("bq://")
        self.endpoint_id = endpoint_id
        self.runner = runner
        self.where = f"BigQuery table {self.table}"

    def sql(
        self,
        key_field: str,
        since: float | None,
        until: float | None,
        keys: Collection[str] | None = None,
        count: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """The query and its parameters: one row per instance carrying the key field (only
        the given keys, when any), or their count."""
        where = [
            "ENDS_WITH(endpoint, CONCAT('/', @endpoint_id))",
            "JSON_VALUE(instance, @key_path) IS NOT NULL",
        ]
        params: dict[str, Any] = {
            "endpoint_id": self.endpoint_id,
            "key_path": _json_path(key_field),
        }
        if since is not None:
            where.append("logging_time >= TIMESTAMP_MICROS(CAST(@since * 1e6 AS INT64))")
            params["since"] = since
        if until is not None:
            where.append("logging_time < TIMESTAMP_MICROS(CAST(@until * 1e6 AS INT64))")
            params["until"] = until
        if keys is not None:
            where.append("JSON_VALUE(instance, @key_path) IN UNNEST(@keys)")
            params["keys"] = sorted(keys)
        select = (
            "COUNT(*) AS n"
            if count
            else "CAST(request_id AS STRING) AS request_id,\n"
            "  UNIX_MICROS(logging_time) / 1e6 AS ts,\n"
            "  deployed_model_id,\n"
            "  JSON_VALUE(instance, @key_path) AS key,\n"
            "  instance, response_payload[SAFE_OFFSET(i)] AS prediction"
        )
        query = (
            f"SELECT {select}\n"
            f"FROM `{self.table}`,\n"
            "  UNNEST(request_payload) AS instance WITH OFFSET AS i\n"
            f"WHERE {' AND '.join(where)}" + ("" if count else "\nORDER BY ts")
        )
        return query, params

    def _run(self, query: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        if self.runner is None:
            raise RuntimeError("BigQueryLogReader needs a query runner (google-cloud-bigquery)")
        return self.runner(query, params)

    def count_keyed(
        self, key_field: str, since: float | None = None, until: float | None = None
    ) -> int:
        query, params = self.sql(key_field, since, until, count=True)
        return sum(int(row["n"]) for row in self._run(query, params))

    def read(
        self,
        key_field: str,
        keys: Collection[str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[LoggedPrediction]:
        query, params = self.sql(key_field, since, until, keys)
        for row in self._run(query, params):
            instance = json.loads(row["instance"])
            prediction = json.loads(row["prediction"]) if row.get("prediction") else None
            key = key_text(row.get("key"))
            if key is None or not isinstance(instance, dict):
                continue
            yield LoggedPrediction(
                key,
                float(row["ts"]),
                str(row["deployed_model_id"]),
                instance,
                prediction,
                str(row.get("request_id", "")),
            )
