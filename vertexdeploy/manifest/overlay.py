"""Overlays: later manifest files deep-merge onto earlier ones, positions kept.

Mappings merge key by key, lists of named objects (models, endpoints, deployments, batch
jobs, pools) merge by ``name``, anything else is replaced; a ``null`` removes a key, and a
``traffic`` map replaces the whole split.
"""

from __future__ import annotations

from vertexdeploy.manifest.nodes import Node

# Mappings an overlay replaces whole: a split merged key by key could not drop a deployment.
REPLACED_WHOLE = frozenset({"traffic"})


def merge(base: Node, overlay: Node) -> Node:
    """Deep-merge an overlay onto a base (see docs: mappings merge, named lists merge by name).

    A ``null`` in the overlay removes the key, so an overlay can take out what the base set;
    a ``traffic`` map replaces the base's split instead of merging into it.
    """
    if isinstance(base.value, dict) and isinstance(overlay.value, dict):
        merged = dict(base.value)
        for key, value in overlay.value.items():
            if value.value is None:
                merged.pop(key, None)
            elif key in merged and key not in REPLACED_WHOLE:
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        return Node(merged, overlay.pos, base.key_pos)  # the overlay touched it last
    if (
        isinstance(base.value, list)
        and isinstance(overlay.value, list)
        and _named(base.value)
        and _named(overlay.value)
    ):
        items = list(base.value)
        index = {item.value["name"].value: i for i, item in enumerate(items)}
        for item in overlay.value:
            name = item.value["name"].value
            if name in index:
                items[index[name]] = merge(items[index[name]], item)
            else:
                items.append(item)
        return Node(items, overlay.pos, base.key_pos)
    return overlay


def _named(items: list[Node]) -> bool:
    return bool(items) and all(
        isinstance(i.value, dict)
        and isinstance(i.value.get("name"), Node)
        and isinstance(i.value["name"].value, str)
        for i in items
    )
