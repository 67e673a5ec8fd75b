"""Cloud Monitoring API v3, the part Vertex AI's online prediction metrics need.

``GET /v3/projects/{project}/timeSeries`` (``projects.timeSeries.list``) answers with the
``aiplatform.googleapis.com/prediction/online/*`` metrics of every endpoint and deployed
model, computed from the serving engine's per-request ring buffers, so promotion gates,
``status`` and users' own scripts read the emulator exactly as they read Google's service.
Supported: ``filter`` (comparisons joined by AND; ``starts_with`` / ``one_of``),
``interval.startTime`` / ``interval.endTime``, ``view`` (FULL, HEADERS), ``aggregation``
(``alignmentPeriod``, the aligners in ``cloud_monitoring_series.ALIGNERS``, REDUCE_SUM /
REDUCE_NONE with ``groupByFields``), ``pageSize`` / ``pageToken``. Anything else is a 400 in
Google's envelope, never a silent wider answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vertexdeploy.emulator import cloud_monitoring_series as S
from vertexdeploy.emulator.apierror import ApiError, invalid
from vertexdeploy.emulator.routing import ApiRoute, Call, paginate, route

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|=)|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w.]*))"""
)
_SELECTOR = re.compile(r"^(metric\.type|resource\.type|project|(?:metric|resource)\.labels?\.\w+)$")
_FUNCS = {"starts_with", "ends_with", "one_of"}


@dataclass(frozen=True)
class Term:
    """One comparison of a filter: ``selector op value`` (value test by ``func``)."""

    selector: str  # metric.type | resource.type | project | metric.label.X | resource.label.X
    negate: bool
    func: str  # equals | starts_with | ends_with | one_of
    values: tuple[str, ...]

    def test(self, actual: str | None) -> bool:
        text = actual or ""
        if self.func == "starts_with":
            hit = text.startswith(self.values[0])
        elif self.func == "ends_with":
            hit = text.endswith(self.values[0])
        else:  # equals, one_of
            hit = actual is not None and text in self.values
        return hit != self.negate


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise invalid(f"Invalid filter at position {pos}: {text[pos : pos + 20]!r}.")
        kind = found.lastgroup or ""
        value = found.group(kind)
        if kind == "str":
            try:
                value = str(json.loads(value))
            except ValueError as exc:
                raise invalid(f"Invalid filter: bad string {value}.") from exc
        out.append((kind, value))
        pos = found.end()
    return out


def _value(tokens: list[tuple[str, str]], i: int) -> tuple[str, tuple[str, ...], int]:
    """A quoted value or a value function; returns (func, values, next index)."""
    kind, text = tokens[i] if i < len(tokens) else ("", "")
    if kind == "str":
        return "equals", (text,), i + 1
    if kind == "word" and text in _FUNCS and tokens[i + 1 : i + 2] == [("punct", "(")]:
        values: list[str] = []
        j = i + 2
        while j < len(tokens) and tokens[j] != ("punct", ")"):
            if tokens[j][0] != "str":
                raise invalid(f"Invalid filter: {text}() takes quoted strings.")
            values.append(tokens[j][1])
            j += 1
            if j < len(tokens) and tokens[j] == ("punct", ","):
                j += 1
        if j >= len(tokens) or not values or (text != "one_of" and len(values) != 1):
            raise invalid(f"Invalid filter: malformed {text}(...).")
        return text, tuple(values), j + 1
    raise invalid("Invalid filter: a comparison needs a quoted value or a value function.")


def parse_filter(text: str) -> tuple[str, list[Term]]:
    """The metric type and the terms of a filter; 400 for anything outside the subset."""
    tokens = _tokens(text or "")
    terms: list[Term] = []
    i = 0
    while i < len(tokens):
        kind, word = tokens[i]
        if (kind, word) == ("word", "AND") and terms:
            i += 1
            continue
        if kind == "word" and word in ("OR", "NOT"):
            raise invalid(f"Invalid filter: {word} is not supported by the emulator (use AND).")
        if kind != "word" or not _SELECTOR.match(word):
            raise invalid(f"Invalid filter: unknown selector {word!r}.")
        if i + 1 >= len(tokens) or tokens[i + 1][0] != "op":
            raise invalid(f"Invalid filter: {word} must be followed by = or !=.")
        negate = tokens[i + 1][1] == "!="
        func, values, i = _value(tokens, i + 2)
        terms.append(Term(word.replace(".labels.", ".label."), negate, func, values))
    return _metric_type(terms), terms


def _metric_type(terms: list[Term]) -> str:
    types = [t for t in terms if t.selector == "metric.type"]
    if len(types) != 1 or types[0].func != "equals" or types[0].negate:
        raise invalid(
            'The filter must name exactly one metric type: metric.type = "..." (got '
            f"{len(types)} metric.type comparisons)."
        )
    return types[0].values[0]


def parse_time(value: str | None, field: str) -> float | None:
    """An RFC 3339 timestamp as Unix seconds (nanoseconds allowed, read to microseconds)."""
    if value in (None, ""):
        return None
    text = str(value).replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = re.match(r"\d*", rest).group(0)  # type: ignore[union-attr]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid(f"{field} must be an RFC 3339 timestamp, got {value!r}.") from exc
    if moment.tzinfo is None:
        raise invalid(f"{field} must carry a time zone (e.g. a trailing Z), got {value!r}.")
    return moment.timestamp()


def parse_duration(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    found = re.fullmatch(r"(\d+(?:\.\d{1,9})?)s", str(value))
    if found is None or float(found.group(1)) <= 0:
        raise invalid(
            f"aggregation.alignmentPeriod must be a positive duration like '60s': {value!r}."
        )
    return float(found.group(1))


def _enum(query: Any, key: str, allowed: tuple[str, ...], default: str) -> str:
    raw = query.get(key) or default
    if raw not in allowed:
        raise invalid(f"{key} must be one of {', '.join(allowed)}; got {raw!r}.")
    return str(raw)


def _aggregation(call: Call) -> S.Aggregation:
    q = call.query
    aligner = _enum(q, "aggregation.perSeriesAligner", S.ALIGNERS, "ALIGN_NONE")
    reducer = _enum(q, "aggregation.crossSeriesReducer", S.REDUCERS, "REDUCE_NONE")
    period = parse_duration(q.get("aggregation.alignmentPeriod"))
    group_by = tuple(call.request.query_params.getlist("aggregation.groupByFields"))
    if aligner != "ALIGN_NONE" and period is None:
        raise invalid("aggregation.alignmentPeriod is required with a perSeriesAligner.")
    if reducer != "REDUCE_NONE" and aligner == "ALIGN_NONE":
        raise invalid(
            "aggregation.crossSeriesReducer needs a perSeriesAligner other than ALIGN_NONE."
        )
    for f in group_by:
        if not _SELECTOR.match(f) or f in ("project",):
            raise invalid(f"aggregation.groupByFields: unknown field {f!r}.")
    fields = tuple(f.replace(".labels.", ".label.") for f in group_by)
    return S.Aggregation(aligner, period, reducer, fields)


async def list_time_series(call: Call) -> dict[str, Any]:
    project = call.params["project"]
    q = call.query
    metric_type, terms = parse_filter(q.get("filter", ""))
    end = parse_time(q.get("interval.endTime"), "interval.endTime")
    if end is None:
        raise invalid("interval.endTime is required.")
    start = parse_time(q.get("interval.startTime"), "interval.startTime")
    if start is not None and start > end:
        raise invalid("interval.startTime must not be later than interval.endTime.")
    view = _enum(q, "view", ("FULL", "HEADERS"), "FULL")
    agg = _aggregation(call)
    kind = S.METRICS.get(metric_type)
    if kind is None:
        return {"timeSeries": []}
    by_model: list[S.ModelRecords] = []
    if getattr(call.state, "serving", None) is not None:
        from vertexdeploy.emulator.workers.view import serving_view

        by_model = (await serving_view(call.state)).metrics.records()
    series = S.build(call.state, project, metric_type, kind, terms, by_model)
    out = S.query(series, metric_type, start, end, agg, view == "HEADERS")
    return paginate(out, q, "timeSeries")


async def _guarded(call: Call) -> dict[str, Any]:
    try:
        return await list_time_series(call)
    except S.SeriesError as exc:
        raise ApiError(exc.status, str(exc)) from exc


ROUTES: list[ApiRoute] = [
    route("GET", r"projects/(?P<project>[^/]+)/timeSeries", "ListTimeSeries", _guarded),
]
