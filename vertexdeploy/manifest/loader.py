"""Load manifests: parse YAML with positions, merge overlays, validate, report every problem.

Overlays: ``-f base.yaml -f prod.yaml`` deep-merges later files onto earlier ones.
Mappings merge key by key; lists of named objects (models, deployment resource pools,
endpoints, deployments, batch jobs) merge item by item on ``name``; any other value is
replaced by the overlay.
Relative artifact paths resolve against the directory of the first file.
The global ``--project``/``--region`` replace the manifest's before it is checked; a
manifest without ``project`` takes it from the environment (``placement.py``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vertexdeploy.errors import ManifestError, Problem
from vertexdeploy.manifest import placement
from vertexdeploy.manifest.crosscheck import cross_check
from vertexdeploy.manifest.spec import Manifest
from vertexdeploy.manifest.yamlpos import (
    Node,
    ParseProblems,
    Pos,
    merge,
    parse_file,
    positions,
    to_plain,
)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from."""

    spec: Manifest
    files: tuple[str, ...]
    base_dir: Path

    def resolve_path(self, path: str) -> Path:
        """A local path in the manifest, relative to the first file's directory."""
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def load_manifest(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> LoadedManifest:
    """Load and validate; raise ManifestError listing every problem found."""
    with _collector_paused():
        return _load(paths, env, texts)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates a tree of small objects that all stay alive; the cyclic collector
    would rescan them again and again (half the time of a large manifest), to find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None,
    texts: Mapping[str, str] | None,
) -> LoadedManifest:
    if not paths:
        raise ManifestError([Problem("<none>", 0, 0, "", "no manifest file given")])
    problems = ParseProblems()
    trees: list[Node] = []
    for path in paths:
        text = (texts or {}).get(str(path))
        tree = parse_file(str(path), text, problems, env)
        if tree is not None:
            if not isinstance(tree.value, dict):
                problems.add(tree.pos, "", "the manifest must be a mapping at the top level")
            else:
                trees.append(tree)
    if problems.items or not trees:
        raise _error(problems.items)
    merged = trees[0]
    for overlay in trees[1:]:
        merged = merge(merged, overlay)
    data = to_plain(merged)
    flags = placement.current_flags()
    if flags.project:
        data["project"] = flags.project
    if flags.region:
        data["region"] = flags.region
    fallback = merged.pos
    try:
        spec = Manifest.model_validate(data)
    except ValidationError as exc:
        where, key_where = positions(merged), positions(merged, keys=True)
        raise _error(
            [
                _locate(
                    e["loc"],
                    _message(e),
                    data,
                    key_where if e["type"] == "extra_forbidden" else where,
                    fallback,
                )
                for e in exc.errors()
            ]
        ) from None
    cross = cross_check(spec)
    if cross:
        where = positions(merged)  # only a manifest with problems needs them
        raise _error([_locate(loc, msg, data, where, fallback) for loc, msg in cross])
    if spec.project is None:
        from_env = placement.project_from_env(os.environ if env is None else env)
        if from_env:
            spec = spec.model_copy(update={"project": from_env})
    return LoadedManifest(spec, tuple(str(p) for p in paths), Path(paths[0]).resolve().parent)


def _error(items: list[tuple[Pos, str, str]]) -> ManifestError:
    return ManifestError([Problem(p.file, p.line, p.col, path, msg) for p, path, msg in items])


def _message(err: Any) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _locate(
    loc: Sequence[Any], message: str, data: Any, where: Mapping[Loc, Pos], fallback: Pos
) -> tuple[Pos, str, str]:
    """Turn a validation location into (position, dotted path, message).

    Pydantic locations may contain schema-only parts (union member names); keep only the
    parts that index into the data, except a final missing key, which names the field.
    """
    real: list[str | int] = []
    cur = data
    for i, part in enumerate(loc):
        if (
            isinstance(cur, dict)
            and part in cur
            or isinstance(cur, list)
            and isinstance(part, int)
            and 0 <= part < len(cur)
        ):
            cur = cur[part]
            real.append(part)
        elif i == len(loc) - 1 and isinstance(part, str):
            real.append(part)
    pos = fallback
    for n in range(len(real), -1, -1):
        if tuple(real[:n]) in where:
            pos = where[tuple(real[:n])]
            break
    return pos, _dotted(real), message


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
