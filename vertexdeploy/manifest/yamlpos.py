"""Safe YAML parsing that keeps the file, line and column of every node.

PyYAML's composer gives nodes with marks; we build plain Python values from them while
refusing duplicate keys, documents that are too large, and alias expansion past a node
budget (the "billion laughs" shape) or past a budget of scalar text (one long string aliased
many times). ``${VAR}`` / ``${VAR:-default}`` are substituted in string scalars from the
environment; ``$${`` is a literal ``${``; substituted text counts against the same budget.

Scanning and parsing run in libyaml when PyYAML has it (about ten times faster on large
manifests); composing stays in Python so aliases keep their own positions. A document that
fails to parse is parsed again in pure Python so error messages do not depend on libyaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

import yaml

from vertexdeploy.manifest.envsubst import ExpansionTooLarge, substitute_env
from vertexdeploy.manifest.nodes import Node, ParseProblems, Pos

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
# Bytes (UTF-8) of scalar text after alias expansion and ${VAR} substitution.
MAX_EXPANDED_BYTES = 16 * 1024 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Alias:
    """An alias occurrence: the anchored node it names, and where the alias was written."""

    __slots__ = ("anchor", "mark", "target")

    def __init__(self, target: yaml.Node, anchor: str, mark: yaml.Mark) -> None:
        self.target = target
        self.anchor = anchor
        self.mark = mark


class _AliasComposer(yaml.composer.Composer):
    """PyYAML's composer, except that an alias becomes an ``_Alias`` wrapping the shared node."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            event = self.peek_event()  # type: ignore[attr-defined]
            target = super().compose_node(parent, index)
            return _Alias(cast(yaml.Node, target), event.anchor, event.start_mark)
        return super().compose_node(parent, index)


class _PureLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    _AliasComposer,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)  # type: ignore[no-untyped-call]
        yaml.scanner.Scanner.__init__(self)  # type: ignore[no-untyped-call]
        yaml.parser.Parser.__init__(self)  # type: ignore[no-untyped-call]
        _AliasComposer.__init__(self)  # type: ignore[no-untyped-call]
        yaml.constructor.SafeConstructor.__init__(self)  # type: ignore[no-untyped-call]
        yaml.resolver.Resolver.__init__(self)  # type: ignore[no-untyped-call]


_LOADERS: list[type[Any]] = [_PureLoader]
if getattr(yaml, "__with_libyaml__", False):
    from yaml._yaml import CParser

    class _FastLoader(
        _AliasComposer,
        CParser,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _AliasComposer.__init__(self)  # type: ignore[no-untyped-call]
            yaml.constructor.SafeConstructor.__init__(self)  # type: ignore[no-untyped-call]
            yaml.resolver.Resolver.__init__(self)  # type: ignore[no-untyped-call]

    _LOADERS.insert(0, _FastLoader)


def _compose_all(text: str, loaders: Sequence[type[Any]] = ()) -> list[Any]:
    """Every document's node tree; libyaml first, pure Python for the error message."""
    loaders = loaders or _LOADERS
    for i, loader_class in enumerate(loaders):
        loader = loader_class(text)
        try:
            documents = []
            while loader.check_node():
                documents.append(loader.get_node())
            return documents
        except yaml.YAMLError:
            if i == len(loaders) - 1:
                raise
        finally:
            loader.dispose()
    raise AssertionError("unreachable")


def _pos(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


def parse_file(
    path: str, text: str | None, problems: ParseProblems, env: Mapping[str, str] | None = None
) -> Node | None:
    """Parse one YAML document into a Node tree; problems are collected, not raised."""
    env = os.environ if env is None else env
    if text is None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            problems.add(Pos(path, 0, 0), "", f"cannot read file: {exc.strerror or exc}")
            return None
        if len(raw) > MAX_BYTES:
            problems.add(Pos(path, 1, 1), "", f"file is larger than {MAX_BYTES} bytes")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(Pos(path, 1, 1), "", f"file is not UTF-8: {exc.reason}")
            return None
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        problems.add(Pos(path, 1, 1), "", f"document is larger than {MAX_BYTES} bytes")
        return None
    try:
        documents = _compose_all(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        if (
            exc.context
            and exc.context_mark
            and exc.problem_mark
            and exc.context_mark.line != exc.problem_mark.line
        ):
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        problems.add(Pos(path, line, col), "", message)
        return None
    except yaml.YAMLError as exc:
        problems.add(Pos(path, 1, 1), "", f"invalid YAML: {exc}")
        return None
    except (RecursionError, ValueError) as exc:
        problems.add(Pos(path, 1, 1), "", f"invalid YAML: {exc}")
        return None
    documents = [d for d in documents if d is not None]
    if not documents:
        problems.add(Pos(path, 1, 1), "", "the file holds no YAML document")
        return None
    if len(documents) > 1:
        problems.add(_pos(path, documents[1]), "", "one YAML document per file, found several")
        return None
    builder = _Builder(path, problems, env)
    try:
        return builder.build(documents[0], "")
    except _TooLarge:
        problems.add(
            Pos(path, 1, 1),
            "",
            f"document expands to more than {MAX_NODES} nodes (aliases expanding too far?)",
        )
        return None
    except _TooMuchText as exc:
        problems.add(exc.pos, exc.path, exc.message)
        return None
    except RecursionError:
        problems.add(Pos(path, 1, 1), "", "document nests too deeply")
        return None


class _TooLarge(Exception):
    pass


class _TooMuchText(Exception):
    """The expansion budget ran out: where, and why."""

    def __init__(self, pos: Pos, path: str, message: str) -> None:
        super().__init__(message)
        self.pos, self.path, self.message = pos, path, message


_BUDGET_TEXT = f"the {MAX_EXPANDED_BYTES // (1024 * 1024)} MiB expansion budget"


class _Builder:
    """Builds the Node tree, expanding aliases, within the node and the text budgets.

    Text is counted where it lands: each scalar once as written, and each alias by the
    memoised size of what it names, checked before that alias is expanded.
    """

    def __init__(self, file: str, problems: ParseProblems, env: Mapping[str, str]) -> None:
        self.file = file
        self.problems = problems
        self.env = env
        self.budget = MAX_NODES
        self.text_left = MAX_EXPANDED_BYTES
        self.constructor = yaml.SafeLoader("")  # a constructor for scalar values only
        self._values: dict[int, tuple[Any, tuple[str, ...], int]] = {}  # id(scalar node) ->
        self._sizes: dict[int, int] = {}  # id(node) -> bytes of text it expands to
        self._in_alias = 0  # > 0 while expanding an alias, whose text is already counted

    def build(self, node: yaml.Node | _Alias, path: str) -> Node:
        if isinstance(node, _Alias):
            return self._expand(node, path)
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        pos = _pos(self.file, node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            for key_node, value_node in node.value:
                counted = isinstance(key_node, _Alias)
                if isinstance(key_node, _Alias):
                    self._spend_alias(key_node, path)
                    key_node = key_node.target
                key = self._key(key_node, path, counted)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.problems.add(_pos(self.file, key_node), path, "keys must be plain scalars")
                    continue
                key = str(key)
                child_path = f"{path}.{key}" if path else key
                if key == "<<":
                    self.problems.add(
                        _pos(self.file, key_node),
                        path,
                        "YAML merge keys (<<) are not supported: write the keys out, or put "
                        "shared settings in a base file and overlay it (vertexdeploy validate "
                        "base.yaml prod.yaml)",
                    )
                    continue
                if key in out:
                    first = out[key].pos
                    self.problems.add(
                        _pos(self.file, key_node),
                        child_path,
                        f"duplicate key (first defined at line {first.line})",
                    )
                    continue
                out[key] = self.build(value_node, child_path)
                out[key].key_pos = _pos(self.file, key_node)
            return Node(out, pos)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(v, f"{path}[{i}]") for i, v in enumerate(node.value)], pos)
        value, missing, size = self._value(node, path)
        if not self._in_alias:
            self._spend(size, pos, path, "text after alias expansion and ${VAR} substitution")
        for name in missing:
            self.problems.add(
                pos,
                path,
                f"environment variable {name} is not set "
                f"(use ${{{name}:-default}} to give a default)",
            )
        return Node(value, pos)

    def _expand(self, alias: _Alias, path: str) -> Node:
        self._spend_alias(alias, path)
        self._in_alias += 1
        try:
            return self.build(alias.target, path)
        finally:
            self._in_alias -= 1

    def _spend_alias(self, alias: _Alias, path: str) -> None:
        if self._in_alias:
            return
        pos = Pos(self.file, alias.mark.line + 1, alias.mark.column + 1)
        self._spend(self._size(alias.target, path), pos, path, f"alias *{alias.anchor}")

    def _spend(self, size: int, pos: Pos, path: str, what: str) -> None:
        self.text_left -= size
        if self.text_left < 0:
            raise _TooMuchText(
                pos,
                path,
                f"{what} expands the document past {_BUDGET_TEXT} "
                f"({MAX_EXPANDED_BYTES} bytes of scalar text; aliases expanding too far?)",
            )

    def _size(self, node: yaml.Node | _Alias, path: str) -> int:
        """Bytes of scalar text ``node`` expands to, without expanding it (memoised)."""
        if isinstance(node, _Alias):
            return self._size(node.target, path)
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.MappingNode):
            size = sum(
                (_raw_size(k) if isinstance(k, yaml.ScalarNode) else self._size(k, path))
                + self._size(v, path)
                for k, v in node.value
            )
        elif isinstance(node, yaml.SequenceNode):
            size = sum(self._size(v, path) for v in node.value)
        else:
            size = self._value(node, path)[2]
        self._sizes[id(node)] = size
        return size

    def _value(self, node: yaml.Node, path: str) -> tuple[Any, tuple[str, ...], int]:
        """A scalar's value after ${VAR} substitution, the names left unset, and its bytes."""
        known = self._values.get(id(node))
        if known is not None:
            return known
        value = self._scalar(node)
        missing: list[str] = []
        if isinstance(value, str) and "$" in value:
            try:
                value, missing = substitute_env(value, self.env, MAX_EXPANDED_BYTES)
            except ExpansionTooLarge as exc:
                raise _TooMuchText(
                    _pos(self.file, node),
                    path,
                    f"${{{exc.args[0]}}} substitution makes this value longer than {_BUDGET_TEXT}",
                ) from None
        size = _text_size(value) if isinstance(value, str) else _raw_size(node)
        result = (value, tuple(missing), size)
        self._values[id(node)] = result
        return result

    def _key(self, node: yaml.Node, path: str, counted: bool) -> Any:
        """A mapping key's value (never substituted), its text counted like any scalar's."""
        if not isinstance(node, yaml.ScalarNode):
            return None
        if not (counted or self._in_alias):
            self._spend(_raw_size(node), _pos(self.file, node), path, "text after alias expansion")
        if node.tag == _MERGE_TAG:  # no constructor exists for it: name it, refuse it above
            return "<<"
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.add(_pos(self.file, node), "", f"invalid value: {exc}")
            return None
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(value)  # timestamps, binary: keep as text, the schema decides
        return value


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _raw_size(node: yaml.Node) -> int:
    return _text_size(str(node.value))
