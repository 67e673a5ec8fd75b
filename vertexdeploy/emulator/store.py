"""Durable emulator state: JSON documents in SQLite (WAL), keyed by full resource name.

Each write commits, so state survives a restart and a kill -9. ``kind`` and ``parent`` are
columns so listing a collection is a single indexed query; filters then run on the
documents in Python (see filters.py). Reads by name come from an in-memory copy of what this
process wrote or read (it is the only writer), so the prediction path reads no SQLite.
``listeners`` hear of every put and delete (serving workers follow endpoints this way).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vertexdeploy.emulator.apierror import not_found
from vertexdeploy.emulator.private import private_dirs, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_kind_parent ON resources (kind, parent);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Store:
    """Thread-safe document store; ``transaction()`` groups writes into one commit."""

    def __init__(self, path: Path) -> None:
        private_file(private_dirs(path.parent) / path.name)  # -wal/-shm inherit its 0600
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._docs: dict[str, str] = {}  # name -> JSON text, as committed (or about to be)
        self._touched: set[str] = set()  # names written in the open transaction
        self.listeners: list[Callable[[str, str], None]] = []  # (kind or "", name)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together, or not at all if the block raises."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                    for name in self._touched:  # forget what the rollback undid
                        self._docs.pop(name, None)
                    self._touched.clear()
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")
                self._touched.clear()

    def get(self, name: str) -> dict[str, Any] | None:
        text = None if name in self._touched else self._docs.get(name)
        if text is None:  # not known yet, or written by a transaction still open
            with self._lock:
                text = self._docs.get(name)
                if text is None:
                    row = self._db.execute(
                        "SELECT doc FROM resources WHERE name = ?", (name,)
                    ).fetchone()
                    if row is None:
                        return None
                    text = self._docs[name] = row[0]
        return dict(json.loads(text))

    def require(self, name: str, what: str) -> dict[str, Any]:
        """The document, or the NOT_FOUND the API would answer."""
        doc = self.get(name)
        if doc is None:
            raise not_found(f"{what} {name} is not found.")
        return doc

    def put(self, name: str, kind: str, parent: str, doc: dict[str, Any]) -> None:
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._db.execute(
                "INSERT INTO resources (name, kind, parent, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                (name, kind, parent, text),
            )
            self._remember(name, text)
        self._tell(kind, name)

    def delete(self, name: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM resources WHERE name = ?", (name,))
            self._remember(name, None)
        self._tell("", name)
        return cur.rowcount > 0

    def _remember(self, name: str, text: str | None) -> None:
        if self._depth:
            self._touched.add(name)
        if text is None:
            self._docs.pop(name, None)
        else:
            self._docs[name] = text

    def _tell(self, kind: str, name: str) -> None:
        for listener in self.listeners:
            listener(kind, name)

    def list(self, kind: str, parent: str | None = None) -> list[dict[str, Any]]:
        """Documents of one kind (optionally under one parent), in creation order."""
        sql = "SELECT doc FROM resources WHERE kind = ?"
        args: tuple[str, ...] = (kind,)
        if parent is not None:
            sql += " AND parent = ?"
            args = (kind, parent)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def next_id(self, key: str) -> int:
        """A per-key counter that never repeats, even across restarts."""
        with self._lock:
            self._db.execute(
                "INSERT INTO counters (key, value) VALUES (?, 1) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1",
                (key,),
            )
            row = self._db.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT kind, COUNT(*) FROM resources GROUP BY kind").fetchall()
        return {str(kind): int(n) for kind, n in rows}
