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
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vertexdeploy.emulator.apierror import ApiError, failed_precondition
from vertexdeploy.emulator.buckets import BucketStore, split_gs_uri
from vertexdeploy.emulator.monitoring.stats import (
    CATEGORICAL,
    NUMERIC,
    Row,
    category,
    feature_kind,
    is_number,
)

MAX_BASELINE_ROWS = 100_000


@dataclass
class Baseline:
    """The training rows as columns: ``values[feature]`` as read (numeric CSV columns as
    floats; None when missing). Numeric and category arrays are derived once, on demand."""

    features: list[str]
    kinds: dict[str, str]
    values: dict[str, list[Any] | np.ndarray]  # a numeric CSV column: floats, NaN missing
    uris: list[str]
    size: int
    _numeric: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def column(self, feature: str) -> list[Any]:
        col = self.values.get(feature)
        if col is None:
            return [None] * self.size
        if isinstance(col, np.ndarray):
            return [None if v != v else v for v in col.tolist()]
        return col

    def numeric(self, feature: str) -> np.ndarray:
        """Floats; NaN where the value is missing or not a finite number."""
        col = self.values.get(feature)
        if isinstance(col, np.ndarray):
            return col
        if feature not in self._numeric:
            col = self.column(feature)
            try:
                x = np.asarray([math.nan if v is None else v for v in col], dtype=float)
                ok = all(v is None or is_number(v) for v in col[:1000])
            except (TypeError, ValueError):
                ok = False
            if not ok:
                x = np.asarray([float(v) if is_number(v) else math.nan for v in col], float)
            self._numeric[feature] = np.where(np.isfinite(x), x, math.nan)
        return self._numeric[feature]

    def categories(self, feature: str) -> list[str | None]:
        return [None if v is None else category(v) for v in self.column(feature)]

    def sample_rows(self, limit: int) -> list[Row]:
        """At most ``limit`` rows, evenly spread (as ``stats.sample_rows``)."""
        n = self.size
        picks = range(n) if n <= limit else [int(i * (n / limit)) for i in range(limit)]
        cols = {f: self.column(f) for f in self.features}
        return [{f: cols[f][i] for f in self.features} for i in picks]

    @property
    def rows(self) -> list[Row]:
        return self.sample_rows(self.size)


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


def _arrow_csv(data: bytes) -> tuple[list[str], dict[str, list[Any] | np.ndarray]] | None:
    """The CSV's columns read by Arrow: a numeric one (every non-empty cell parses as a
    finite float) as a float array (NaN where empty), others as text cells (None where
    empty); None when Arrow cannot read it (ragged rows, duplicate names): the slow path."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    end = data.find(b"\n")
    try:
        first = (data if end < 0 else data[:end]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    header = next(csv.reader(io.StringIO(first)), None)
    if not header:
        return [], {}
    names = [h.strip() for h in header]
    if len(set(header)) != len(header) or len(set(names)) != len(names):
        return None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:
        return None
    out: dict[str, list[Any] | np.ndarray] = {}
    for h, n in zip(header, names, strict=True):
        col = pc.utf8_trim_whitespace(table.column(h))
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        try:
            x = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out[n] = col.to_pylist()
            continue
        x = np.asarray(x, dtype=float)
        present = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if present.any() and np.isfinite(x[present]).all():
            out[n] = np.where(present, x, math.nan)
        else:
            out[n] = _type_csv_column(col.to_pylist())[0]
    return names, out


def _csv_columns(text: str) -> tuple[list[str], dict[str, list[Any] | np.ndarray]]:
    """Columns of a CSV: text cells, None for empty ones."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return [], {}
    names = [h.strip() for h in header]
    rows = [cells for cells in reader if cells]
    width = len(names)
    padded = (r[:width] + [""] * (width - len(r)) for r in rows)
    columns = list(zip(*padded, strict=True)) if rows else [() for _ in names]
    return names, {
        n: [None if c.strip() == "" else c.strip() for c in col]
        for n, col in zip(names, columns, strict=True)
    }


def _type_csv_column(cells: list[Any]) -> tuple[list[Any], str]:
    """A numeric column (every non-empty cell parses as a float) as floats, with its kind:
    NUMERIC when those floats are all finite too (``stats.feature_kind``)."""
    present = [c for c in cells if c is not None]
    if not present:
        return cells, CATEGORICAL
    try:
        parsed = np.asarray(present, dtype=float)
    except ValueError:
        return cells, CATEGORICAL
    typed = [None if c is None else float(c) for c in cells]
    return typed, NUMERIC if bool(np.isfinite(parsed).all()) else CATEGORICAL


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
    columns: dict[str, list[Any] | np.ndarray] = {}
    size = 0
    for uri in files:
        try:
            data = buckets.read_bytes(uri)
        except ApiError as exc:
            raise failed_precondition(f"trainingDataset {uri}: {exc.message}") from exc
        data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        fast = _arrow_csv(data) if fmt == "csv" else None  # Arrow checks the UTF-8 itself
        if fast is not None:
            cols, part = fast
            n_part = len(next(iter(part.values()))) if part else 0
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise failed_precondition(f"trainingDataset {uri}: not UTF-8 text") from exc
            if fmt == "csv":
                cols, part = _csv_columns(text)
                n_part = len(next(iter(part.values()))) if part else 0
            else:
                cols, rows = _jsonl_rows(text, uri)
                part = {c: [r.get(c) for r in rows] for c in cols}
                n_part = len(rows)
        del data
        for c in cols:
            if c not in columns:
                names.append(c)
                empty = isinstance(part.get(c), np.ndarray)
                columns[c] = np.full(size, math.nan) if empty else [None] * size
        for c in names:
            columns[c] = _concat(columns[c], part.get(c), n_part)
        size += n_part
        if size >= MAX_BASELINE_ROWS:
            columns = {c: v[:MAX_BASELINE_ROWS] for c, v in columns.items()}
            size = MAX_BASELINE_ROWS
            break
    if not size:
        raise failed_precondition(f"trainingDataset {', '.join(uris)} has no rows.")
    target = str(dataset.get("targetField") or "")
    features = [n for n in names if n != target]
    columns.pop(target, None)
    kinds: dict[str, str] = {}
    for f in features:
        col = columns[f]
        if isinstance(col, np.ndarray):
            kinds[f] = NUMERIC
        elif fmt == "csv":
            columns[f], kinds[f] = _type_csv_column(col)
        else:
            kinds[f] = feature_kind(col)
    return Baseline(features, kinds, columns, files, size)


def _concat(
    have: list[Any] | np.ndarray, more: list[Any] | np.ndarray | None, n: int
) -> list[Any] | np.ndarray:
    """Two files' parts of a column: floats stay an array while both parts are."""
    if more is None:
        more = np.full(n, math.nan) if isinstance(have, np.ndarray) else [None] * n
    if isinstance(have, np.ndarray) and isinstance(more, np.ndarray):
        return np.concatenate([have, more])
    as_list = [
        (None if v != v else v) if isinstance(part, np.ndarray) else v
        for part in (have, more)
        for v in (part.tolist() if isinstance(part, np.ndarray) else part)
    ]
    return as_list


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
