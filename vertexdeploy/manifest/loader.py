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

from vertexdeploy.errors import ManifestError, Problem
from vertexdeploy.manifest import placement
from vertexdeploy.manifest.nodes import Node, ParseProblems, Pos, positions, to_plain
from vertexdeploy.manifest.overlay import merge
from vertexdeploy.manifest.partial import Loc, validate_parts
from vertexdeploy.manifest.spec import Manifest
from vertexdeploy.manifest.yamlpos import parse_file


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest and where it came from."""

    spec: Manifest
    files: tuple[str, ...]
    base_dir: Path
    warnings: tuple[Problem, ...] = ()

    def resolve_path(self, path: str) -> Path:
        """A local path in the manifest, relative to the first file's directory."""
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p).resolve()


@dataclass(frozen=True)
class Validation:
    """Everything one pass over a manifest found: the manifest when it is valid, every
    problem, and every warning (allowed, but probably a mistake)."""

    loaded: LoadedManifest | None
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]


def load_manifest(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> LoadedManifest:
    """Load and validate; raise ManifestError listing every problem found."""
    result = check_manifest(paths, env, texts)
    if result.loaded is None:
        raise ManifestError(list(result.problems))
    return result.loaded


def check_manifest(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
) -> Validation:
    """Run every check that needs no cloud, in one pass, and return what they found."""
    with _collector_paused():
        return _check(paths, env, texts)


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


def _check(
    paths: Sequence[str | Path],
    env: Mapping[str, str] | None,
    texts: Mapping[str, str] | None,
) -> Validation:
    if not paths:
        return _failed([(Pos("<none>", 0, 0), "", "no manifest file given")])
    problems = ParseProblems()
    trees: list[Node] = []
    for path in paths:
        text = (texts or {}).get(str(path))
        tree = parse_file(str(path), text, problems, env)
        if tree is None:
            continue
        if not isinstance(tree.value, dict):
            problems.add(tree.pos, "", "the manifest must be a mapping at the top level")
        else:
            trees.append(tree)
    if len(trees) < len(paths):  # a file that did not parse: merging the rest would mislead
        return _failed(problems.items)
    merged = trees[0]
    for overlay in trees[1:]:
        merged = merge(merged, overlay)
    data = to_plain(merged)
    flags = placement.current_flags()
    if flags.project:
        data["project"] = flags.project
    if flags.region:
        data["region"] = flags.region
    base_dir = Path(paths[0]).resolve().parent
    found = validate_parts(data, base_dir)
    found_problems = found.problems
    if problems.items:  # a subtree the parser had to drop or keep unsubstituted
        found_problems = [p for p in found_problems if not _under_any(p[0], problems.items)]
    if found_problems or found.warnings or problems.items:
        where, key_where = positions(merged), positions(merged, keys=True)
        located = [
            _locate(loc, msg, data, key_where if by_key else where, merged.pos)
            for loc, msg, by_key in found_problems
        ]
        warned = [_locate(loc, msg, data, where, merged.pos) for loc, msg in found.warnings]
    else:
        located, warned = [], []
    warnings = tuple(_problems(warned))
    all_problems = problems.items + located
    if all_problems or found.spec is None:
        return Validation(None, tuple(_problems(all_problems)), warnings)
    spec = found.spec
    if spec.project is None:
        from_env = placement.project_from_env(os.environ if env is None else env)
        if from_env:
            spec = spec.model_copy(update={"project": from_env})
    loaded = LoadedManifest(spec, tuple(str(p) for p in paths), base_dir, warnings)
    return Validation(loaded, (), warnings)


def _failed(items: list[tuple[Pos, str, str]]) -> Validation:
    return Validation(None, tuple(_problems(items)), ())


def _problems(items: list[tuple[Pos, str, str]]) -> list[Problem]:
    problems = [Problem(p.file, p.line, p.col, path, msg) for p, path, msg in items]
    return sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path))


def _under_any(loc: Loc, parse_items: list[tuple[Pos, str, str]]) -> bool:
    """A problem inside a subtree the parser already reported (a merge key, an unset
    variable) is a consequence of that problem, not news."""
    dotted = _dotted(loc)
    return any(
        path and (dotted == path or dotted.startswith((path + ".", path + "[")))
        for _, path, _ in parse_items
    )


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
