"""Labelled data for the quality checks: a csv or jsonl file read into feature rows and labels.

Paths resolve like artifacts: relative to the manifest's directory, or ``gs://`` (read from
the emulator's bucket store on ``target: local``, downloaded from Cloud Storage on
``target: vertex``; see ``gcs.py``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vertexdeploy.manifest.spec_quality import QualityDataSpec
from vertexdeploy.quality.gcs import GcsError, GsFiles


class DataError(Exception):
    """A data file that cannot be read as the manifest describes it (names file and row)."""


@dataclass(frozen=True)
class Dataset:
    """Feature matrix (float), labels, feature names, and where it came from."""

    source: str
    features: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def resolve(uri: str, base_dir: Path, gs: GsFiles) -> Path:
    """The local file behind a manifest's data URI."""
    if uri.startswith("gs://"):
        try:
            return gs.file(uri)
        except GcsError as exc:
            raise DataError(str(exc)) from None
    p = Path(uri).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()


def load(spec: QualityDataSpec, base_dir: Path, gs: GsFiles | None = None) -> Dataset:
    """Read ``spec``'s file: every column but the target is a numeric feature. ``gs`` finds
    ``gs://`` URIs (default: the local emulator's bucket store)."""
    path = resolve(spec.uri, base_dir, gs or GsFiles("local"))
    if not path.is_file():
        raise DataError(f"{spec.uri}: data file {path} does not exist")
    records = _read_csv(path) if spec.format == "csv" else _read_jsonl(path)
    if not records:
        raise DataError(f"{path}: no rows")
    features = tuple(k for k in records[0] if k != spec.target_field)
    if spec.target_field not in records[0]:
        raise DataError(
            f"{path}: no column {spec.target_field!r} (target_field); columns: "
            f"{', '.join(records[0])}"
        )
    x = np.empty((len(records), len(features)), dtype=float)
    labels: list[Any] = []
    for i, rec in enumerate(records):
        for j, name in enumerate(features):
            x[i, j] = _number(rec.get(name), path, i + 1, name)
        labels.append(rec.get(spec.target_field))
    return Dataset(str(path), features, x, _labels(labels))


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{n}: not JSON: {exc}") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n}: each line must be a JSON object with named fields")
        out.append(rec)
    return out


def _number(value: Any, path: Path, row: int, name: str) -> float:
    """A feature value as float; NaN/Inf are kept (the NaN check reports them)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else math.nan
        except ValueError:
            pass
    if value is None:
        return math.nan
    raise DataError(f"{path}: row {row}: feature {name!r}: {value!r} is not a number")


def _labels(values: list[Any]) -> np.ndarray:
    """Numeric labels become numbers (ints when whole), others stay strings."""
    try:
        nums = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        return np.asarray([str(v) for v in values], dtype=object)
    if np.all(np.isfinite(nums)) and np.all(nums == np.round(nums)):
        return nums.astype(int)
    return nums
