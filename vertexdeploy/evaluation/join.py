"""Ground truth in, joined rows out: read the outcome files, match them to logged
predictions on the manifest's key field.

The ground truth (usually far smaller than the log) is held as a dict by key; the log is
streamed once. A key logged by several deployed models (shadow traffic, retries) joins each.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vertexdeploy.errors import UsageError
from vertexdeploy.evaluation.reader import PredictionLogReader, key_text
from vertexdeploy.evaluation.store import JoinedRow


@dataclass
class JoinResult:
    truth_keys: int
    scanned: int  # keyed logged instances read
    rows: list[JoinedRow] = field(default_factory=list)

    @property
    def matched_keys(self) -> int:
        return len({r.key for r in self.rows})


def read_ground_truth(paths: Sequence[str], key_field: str, label_field: str) -> dict[str, Any]:
    """key -> label from .jsonl (an object per line) and .csv (header row) files; a bad line
    is a usage error naming file and line."""
    truth: dict[str, Any] = {}
    for path in paths:
        for line_no, row in _rows(Path(path)):
            where = f"{path}:{line_no}"
            if key_field not in row or label_field not in row:
                raise UsageError(
                    f"{where}: ground truth needs fields {key_field!r} (monitoring.ground_truth"
                    f".key_field) and {label_field!r} (label_field); found {sorted(row)}"
                )
            key = key_text(row[key_field])
            if key is None:
                raise UsageError(f"{where}: {key_field!r} is {row[key_field]!r}, not a key")
            truth[key] = row[label_field]
    return truth


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ground truth: {exc.strerror}") from exc
    if suffix == ".csv":
        for i, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            yield i, {k: _cell(v) for k, v in row.items() if k is not None}
    elif suffix in (".jsonl", ".json"):
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{i}: not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise UsageError(f"{path}:{i}: expected an object per line")
            yield i, row
    else:
        raise UsageError(f"{path}: ground truth must be .jsonl or .csv")


def _cell(text: str | None) -> Any:
    """CSV cells that are numbers compare as numbers (so 1 and "1" are one label)."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def join(
    truth: dict[str, Any],
    reader: PredictionLogReader,
    key_field: str,
    since: float | None = None,
    until: float | None = None,
) -> JoinResult:
    result = JoinResult(truth_keys=len(truth), scanned=reader.count_keyed(key_field, since, until))
    for logged in reader.read(key_field, set(truth), since, until):
        if logged.key in truth:
            instance = {k: v for k, v in logged.instance.items() if k != key_field}
            result.rows.append(
                JoinedRow(
                    logged.deployed_model_id,
                    logged.key,
                    logged.ts,
                    instance,
                    logged.prediction,
                    truth[logged.key],
                )
            )
    return result
