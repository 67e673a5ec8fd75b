"""Promotion state: one JSON document per (stack, endpoint), rewritten after each step.

It lets a CI job that died mid-walk, or a pipeline running one ``--step`` per job, carry
on where the last one stopped; and it tells ``plan``/``apply`` (through
:func:`override_from`) which split a promotion set, so they do not silently revert it
while the endpoint's manifest spec is the one the promotion started from.

Where the documents live is a :class:`StateStore`: the stack's staging bucket for every
live command (``rollout/bucket_store.py``, shared by every checkout and CI runner), or a
local directory (:class:`LocalStateStore`) for ``plan --offline`` and as the folder older
releases wrote, migrated from once. See docs/state.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from vertexdeploy.errors import VertexDeployError
from vertexdeploy.manifest.spec import EndpointSpec
from vertexdeploy.manifest.spec_base import digest_dump
from vertexdeploy.rollout.gates import GateResult

STATE_DIR_ENV = "VERTEXDEPLOY_STATE_DIR"
DEFAULT_STATE_DIR = Path(".vertexdeploy") / "promotions"
FORMAT_VERSION = 1

Status = Literal["in_progress", "promoted", "rolled_back"]


class StateFileError(VertexDeployError):
    """A promotion state file that cannot be read; names the file."""


class StateConflict(VertexDeployError):
    """Another run rewrote a promotion state object since this run read it (412)."""


@dataclass
class StepRecord:
    """One bake: the split set, the window judged and every gate's verdict."""

    percent: int
    split: dict[str, int]
    started_at: float
    finished_at: float
    passed: bool
    gates: list[GateResult] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gates"] = [g.to_dict() for g in self.gates]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        data = dict(data)
        data["gates"] = [GateResult.from_dict(g) for g in data.get("gates", [])]
        return cls(**data)


@dataclass
class PromotionState:
    """Everything needed to resume, roll back, or keep plan/apply from reverting."""

    stack: str
    endpoint: str
    candidate: str
    stable: str
    steps: list[int]
    endpoint_spec_hash: str
    initial_split: dict[str, int]
    last_good_split: dict[str, int]
    current_split: dict[str, int]
    step_index: int = 0
    status: Status = "in_progress"
    keep_previous: bool = False
    undeployed: list[str] = field(default_factory=list)
    reason: str = ""
    started_at: float = 0.0
    updated_at: float = 0.0
    history: list[StepRecord] = field(default_factory=list)
    version: int = FORMAT_VERSION

    @property
    def next_percent(self) -> int | None:
        return self.steps[self.step_index] if self.step_index < len(self.steps) else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["history"] = [h.to_dict() for h in self.history]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionState:
        data = dict(data)
        data["history"] = [StepRecord.from_dict(h) for h in data.get("history", [])]
        return cls(**data)


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Argument, else $VERTEXDEPLOY_STATE_DIR, else .vertexdeploy/promotions in the cwd."""
    if state_dir is not None:
        return Path(state_dir)
    env = os.environ.get(STATE_DIR_ENV)
    return Path(env) if env else Path.cwd() / DEFAULT_STATE_DIR


def state_path(state_dir: str | os.PathLike[str] | None, stack: str, endpoint: str) -> Path:
    return resolve_state_dir(state_dir) / stack / f"{endpoint}.json"


def encode_state(state: PromotionState) -> bytes:
    """The document as stored, in every store: indented JSON, one trailing newline."""
    return (json.dumps(state.to_dict(), indent=2, sort_keys=False) + "\n").encode()


def decode_state(raw: bytes | str, where: str) -> PromotionState:
    """A stored document; any other content is a StateFileError naming ``where``."""
    try:
        data = json.loads(raw)
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown format version {data.get('version')!r}")
        return PromotionState.from_dict(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise StateFileError(f"{where}: not a promotion state file: {exc}") from exc


class StateStore(Protocol):
    """Where one stack's promotion state lives; rollout code reads and writes only this."""

    def load(self, endpoint: str) -> PromotionState | None:
        """The recorded promotion of ``endpoint``, or None."""
        ...

    def save(self, state: PromotionState) -> None:
        """Record ``state`` (its endpoint names the document)."""
        ...

    def delete(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s promotion; False when none was recorded."""
        ...

    def endpoints(self) -> list[str]:
        """Endpoints with a recorded promotion, sorted."""
        ...

    def where(self, endpoint: str) -> str:
        """The document's location, for messages and results."""
        ...


class LocalStateStore:
    """``<state dir>/<stack>/<endpoint>.json``: ``plan --offline``, and the pre-bucket layout."""

    def __init__(self, state_dir: str | os.PathLike[str] | None, stack: str) -> None:
        self.root = resolve_state_dir(state_dir) / stack
        self.stack = stack

    def path(self, endpoint: str) -> Path:
        return self.root / f"{endpoint}.json"

    def where(self, endpoint: str) -> str:
        return str(self.path(endpoint))

    def load(self, endpoint: str) -> PromotionState | None:
        path = self.path(endpoint)
        try:
            raw = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(f"{path}: cannot read promotion state: {exc.strerror}") from exc
        return decode_state(raw, str(path))

    def save(self, state: PromotionState) -> None:
        """Write atomically: a temp file in the same directory, fsync, then rename over."""
        path = self.path(state.endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode_state(state))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, endpoint: str) -> bool:
        path = self.path(endpoint)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def endpoints(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if p.is_file())

    def retire(self, endpoint: str) -> Path | None:
        """Rename a migrated file to ``<endpoint>.json.migrated`` so it is used only once."""
        path = self.path(endpoint)
        if not path.exists():
            return None
        done = path.with_name(path.name + ".migrated")
        os.replace(path, done)
        return done


def load_state(
    state_dir: str | os.PathLike[str] | None, stack: str, endpoint: str
) -> PromotionState | None:
    """The promotion recorded in a local state dir, or None when there is none."""
    return LocalStateStore(state_dir, stack).load(endpoint)


def save_state(state_dir: str | os.PathLike[str] | None, state: PromotionState) -> Path:
    """Write ``state`` to a local state dir, atomically."""
    store = LocalStateStore(state_dir, state.stack)
    store.save(state)
    return store.path(state.endpoint)


def endpoint_spec_hash(endpoint: EndpointSpec) -> str:
    """sha256 of the endpoint's spec WITHOUT its rollout policy.

    Tuning bake time or gates is not an edit of what the endpoint serves, so it must not
    hand traffic control back to the manifest in the middle of a promotion.
    """
    data = digest_dump(endpoint, exclude=frozenset({"rollout"}))
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Override:
    """What plan/apply should use for one endpoint instead of the manifest's traffic."""

    split: dict[str, int]
    undeployed: tuple[str, ...]
    status: Status
    candidate: str
    stable: str

    @property
    def note(self) -> str:
        what = {
            "in_progress": f"promotion of {self.candidate!r} in progress",
            "promoted": f"{self.candidate!r} was promoted to 100%",
            "rolled_back": f"promotion of {self.candidate!r} was rolled back",
        }[self.status]
        gone = f" ({', '.join(self.undeployed)} undeployed)" if self.undeployed else ""
        return f"{what}{gone}: keeping its split until the endpoint is edited in the manifest"


def override_from(store: StateStore, endpoint: str, endpoint_spec_hash: str) -> Override | None:
    """The split a promotion set, while the manifest's endpoint is still the one it started from.

    Returns None when no promotion is recorded or when the endpoint's manifest spec changed
    since (its hash differs): then the manifest is the source of truth again.
    """
    state = store.load(endpoint)
    if state is None or state.endpoint_spec_hash != endpoint_spec_hash:
        return None
    return Override(
        split=dict(state.current_split),
        undeployed=tuple(state.undeployed),
        status=state.status,
        candidate=state.candidate,
        stable=state.stable,
    )


def promotion_override(
    state_dir: str | os.PathLike[str] | None,
    stack: str,
    endpoint: str,
    endpoint_spec_hash: str,
) -> Override | None:
    """:func:`override_from` a local state dir."""
    return override_from(LocalStateStore(state_dir, stack), endpoint, endpoint_spec_hash)
