"""The two inputs of a monitoring run: the training baseline and the logged serving instances.

* Baseline: the objective config's ``trainingDataset`` — ``gcsSource.uris`` read from the
  emulator's bucket store (a ``*`` in the object part matches like a shell glob), as ``csv``
  (a header row, then rows) or ``jsonl`` (one JSON object per line; a JSON list is read by
  position, its features named ``"0"``, ``"1"``...). ``targetField`` is dropped. In a CSV a
  column is numeric when every non-empty cell parses as a float; empty cells are missing.
* Serving: read column by column from the request log (``window.py``); only the few
  instances attributions need become rows here (``instance_row``): a list instance by
  position in the baseline's column order, a dict instance by key.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
from dataclasses import dataclass
from typing import Any

from vertexdeploy.emulator.apierror import ApiError, failed_precondition
from vertexdeploy.emulator.buckets import BucketStore, split_gs_uri
from vertexdeploy.emulator.monitoring.stats import Row, feature_kind

MAX_BASELINE_ROWS = 100_000


@dataclass(frozen=True)
class Baseline:
    features: list[str]
    kinds: dict[str, str]
    rows: list[Row]
    uris: list[str]

    def column(self, feature: str) -> list[Any]:
        return [r.get(feature) for r in self.rows]


def _expand(buckets: BucketStore, uri: str) -> list[str]:
    if "*" not in uri:
        return [uri]
    bucket, pattern = split_gs_uri(uri.replace("*", "x"))  # validates the bucket part
    pattern = uri[len(f"gs://{bucket}/") :]
    prefix = pattern.split("*", 1)[0]
    try:
        names = buckets.names(bucket, prefix)
    except ApiError:
        return []
    return [f"gs://{bucket}/{n}" for n in names if fnmatch.fnmatchcase(n, pattern)]


def _cell(text: str) -> Any:
    return None if text == "" else text


def _csv_rows(text: str) -> tuple[list[str], list[Row]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return [], []
    names = [h.strip() for h in header]
    rows: list[Row] = []
    for cells in reader:
        if not cells:
            continue
        rows.append({n: _cell(c.strip()) for n, c in zip(names, cells, strict=False)})
    return names, rows


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _type_csv_columns(names: list[str], rows: list[Row]) -> None:
    """Numeric columns (every non-empty cell parses as a float) become floats, in place."""
    for n in names:
        cells = [r.get(n) for r in rows if r.get(n) is not None]
        if cells and all(_to_float(c) is not None for c in cells):
            for r in rows:
                if r.get(n) is not None:
                    r[n] = _to_float(r[n])


def _jsonl_rows(text: str, where: str) -> tuple[list[str], list[Row]]:
    names: dict[str, None] = {}
    rows: list[Row] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise failed_precondition(f"{where}:{n}: not JSON: {exc}") from exc
        if isinstance(item, list):
            item = {str(i): v for i, v in enumerate(item)}
        if not isinstance(item, dict):
            raise failed_precondition(f"{where}:{n}: expected a JSON object or list per line")
        names.update(dict.fromkeys(item))
        rows.append(item)
    return list(names), rows


def load_baseline(buckets: BucketStore, dataset: dict[str, Any]) -> Baseline:
    """Read the training dataset a job names; FAILED_PRECONDITION when it cannot be used."""
    fmt = str(dataset.get("dataFormat") or "").lower()
    uris = [str(u) for u in (dataset.get("gcsSource") or {}).get("uris") or []]
    if not uris:
        what = "bigquerySource" if dataset.get("bigquerySource") else "dataset"
        raise failed_precondition(
            f"trainingDataset: the emulator reads baselines only from gcsSource (got {what})."
        )
    if fmt not in ("csv", "jsonl"):
        raise failed_precondition(
            f"trainingDataset.dataFormat {fmt or '(unset)'!r}: the emulator reads csv or jsonl."
        )
    files = [u for uri in uris for u in _expand(buckets, uri)]
    names: list[str] = []
    rows: list[Row] = []
    for uri in files:
        try:
            text = buckets.read_bytes(uri).decode("utf-8-sig")
        except ApiError as exc:
            raise failed_precondition(f"trainingDataset {uri}: {exc.message}") from exc
        except UnicodeDecodeError as exc:
            raise failed_precondition(f"trainingDataset {uri}: not UTF-8 text") from exc
        cols, part = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text, uri)
        names += [c for c in cols if c not in names]
        rows += part
        if len(rows) >= MAX_BASELINE_ROWS:
            rows = rows[:MAX_BASELINE_ROWS]
            break
    if not rows:
        raise failed_precondition(f"trainingDataset {', '.join(uris)} has no rows.")
    if fmt == "csv":
        _type_csv_columns(names, rows)
    target = str(dataset.get("targetField") or "")
    features = [n for n in names if n != target]
    for r in rows:
        r.pop(target, None)
    kinds = {f: feature_kind(r.get(f) for r in rows) for f in features}
    return Baseline(features, kinds, rows, files)


# ---------------------------------------------------------------------------------- serving


def instance_row(instance: Any, features: list[str]) -> Row | None:
    """A logged instance keyed by feature name; None for instances that are neither."""
    if isinstance(instance, list):
        return {f: v for f, v in zip(features, instance, strict=False)}
    if isinstance(instance, dict):
        return {f: instance.get(f) for f in features}
    return None


def to_instance(row: Row, features: list[str], instance_format: str) -> Any:
    """A feature row back in the shape the model was served."""
    if instance_format == "dict":
        return {f: row.get(f) for f in features}
    return [row.get(f) for f in features]
