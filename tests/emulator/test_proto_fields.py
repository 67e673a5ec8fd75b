"""The emulator's field table must match the installed SDK's protos (drift is caught here).

Run ``python tests/emulator/test_proto_fields.py`` to regenerate
``vertexdeploy/emulator/proto_fields.py`` after upgrading google-cloud-aiplatform.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from vertexdeploy.emulator.names import camel
from vertexdeploy.emulator.validation import FIELDS

_PACKAGE = "google.cloud.aiplatform.v1."
_TARGET = Path(__file__).resolve().parents[2] / "vertexdeploy" / "emulator" / "proto_fields.py"
# The request bodies the emulator parses (HTTP body of each RPC it serves).
ROOTS = [
    v1.UploadModelRequest,
    v1.Model,
    v1.MergeVersionAliasesRequest,
    v1.Endpoint,
    v1.DeployModelRequest,
    v1.UndeployModelRequest,
    v1.MutateDeployedModelRequest,
    v1.BatchPredictionJob,
    v1.ModelDeploymentMonitoringJob,
    v1.CreateDeploymentResourcePoolRequest,
    v1.DeploymentResourcePool,
]
_SCALARS = {
    FieldDescriptor.TYPE_STRING: "s",
    FieldDescriptor.TYPE_BYTES: "s",
    FieldDescriptor.TYPE_BOOL: "b",
    FieldDescriptor.TYPE_ENUM: "e",
}


def _short(d: Descriptor) -> str:
    return d.full_name[len(_PACKAGE) :]


def _kind(field: FieldDescriptor) -> tuple[str, Descriptor | None]:
    """The table's kind code for one field, and the message it leads to (if ours)."""
    msg = field.message_type
    if msg is not None and msg.GetOptions().map_entry:
        value, child = _kind(msg.fields_by_name["value"])
        return "{" + value + "}", child
    repeated = "*" if field.is_repeated else ""
    if msg is None:
        return repeated + _SCALARS.get(field.type, "n"), None
    if not msg.full_name.startswith(_PACKAGE):
        return repeated + "?", None  # well-known types (Timestamp, Value, ...) stay free-form
    return f"{repeated}@{_short(msg)}", msg


def collect() -> dict[str, dict[str, str]]:
    """Every aiplatform message reachable from ROOTS: {message: {proto field name: kind}}."""
    table: dict[str, dict[str, str]] = {}
    todo: list[Descriptor] = [cls.pb().DESCRIPTOR for cls in ROOTS]
    while todo:
        desc = todo.pop()
        if _short(desc) in table:
            continue
        fields: dict[str, str] = {}
        for field in desc.fields:
            kind, child = _kind(field)
            fields[field.name] = kind
            if child is not None:
                todo.append(child)
        table[_short(desc)] = fields
    return dict(sorted(table.items()))


def render(table: dict[str, dict[str, str]]) -> str:
    """The checked-in module text: one message per entry, wrapped under 100 columns."""
    lines: list[str] = []
    for message, fields in table.items():
        line = message
        for name, kind in fields.items():
            token = f" {name}:{kind}"
            if len(line) + len(token) > 95:
                lines.append(line)
                line = "   "
            line += token
        lines.append(line)
    body = "\n".join(lines)
    return f'''"""Vertex AI v1 message fields the emulator accepts. GENERATED: do not edit.

Regenerate with ``python tests/emulator/test_proto_fields.py`` (it reads the installed
google-cloud-aiplatform protos; the emulator itself never imports them). Each entry is a
message, then ``proto_name:kind`` per field; indented lines continue the entry above. Kinds:
``s`` string/bytes, ``n`` number, ``b`` bool, ``e`` enum, ``?`` well-known type (free-form),
``@Message`` a message, ``*`` prefix repeated, ``{{kind}}`` a map with values of that kind.
"""

TABLE = """
{body}
"""
'''


def test_checked_in_table_matches_the_installed_sdk() -> None:
    assert _TARGET.read_text() == render(collect()), (
        "proto_fields.py is stale: run python tests/emulator/test_proto_fields.py"
    )


def test_every_allowed_field_is_a_real_proto_field_with_its_json_name() -> None:
    for message, fields in FIELDS.items():
        desc = getattr(v1, message.split(".")[0]).pb().DESCRIPTOR
        for part in message.split(".")[1:]:
            desc = desc.nested_types_by_name[part]
        real = {f.name: f.json_name for f in desc.fields}
        assert set(fields) <= set(real), message
        for name in fields:
            assert camel(name) == real[name], (message, name)


def test_a_full_sdk_model_round_trips_through_the_field_check() -> None:
    from vertexdeploy.emulator.validation import check_message

    model = v1.Model(
        display_name="m",
        container_spec=v1.ModelContainerSpec(
            image_uri="img",
            env=[v1.EnvVar(name="A", value="1")],
            ports=[v1.Port(container_port=8080)],
        ),
        labels={"team": "ml"},
        explanation_spec=v1.ExplanationSpec(
            parameters=v1.ExplanationParameters(
                sampled_shapley_attribution=v1.SampledShapleyAttribution(path_count=5)
            )
        ),
    )
    body: Any = v1.Model.to_dict(model, use_integers_for_enums=True)
    camel_body: Any = __import__("json").loads(v1.Model.to_json(model))
    check_message(body, "Model", "model")
    check_message(camel_body, "Model", "model")


if __name__ == "__main__":
    _TARGET.write_text(render(collect()))
    sys.stdout.write(f"wrote {_TARGET}\n")
