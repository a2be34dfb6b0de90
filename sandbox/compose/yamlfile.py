"""Reading a compose file's YAML: the way Compose's YAML library reads it, tags ``!reset`` and ``!override`` kept aside.

    services:                         what read_documents returns, per YAML document:
      web:                              tree    {"services": {"web": {"image": "nginx"}}}
        image: nginx                    resets  [("services", "web", "ports")]
        ports: !reset []

Compose (compose-go, with go-yaml v3/v4) reads YAML 1.2: only ``true`` and
``false`` are booleans, and ``22:22`` is a string.  PyYAML reads YAML 1.1,
where ``no`` is False (``restart: no``!) and ``22:22`` is the number 1342
(base 60).  :class:`ComposeYAMLLoader` therefore keeps PyYAML's safe loader
but resolves plain scalars by YAML 1.2's core schema, and refuses a key
written twice in one mapping, as go-yaml does.

The two tags come from the Compose Specification, "Merge and override"
(13-merge.md): ``!reset`` removes what earlier files set at that path,
``!override`` replaces it instead of merging.  The tree keeps an
``!override`` value and drops a ``!reset`` one; both paths are returned so
that merge.py can clear them from the earlier files (compose-go's
``loader/reset.go`` does the same).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import ComposeError


class Tagged:
    """A value that carried ``!reset`` or ``!override`` in the file."""

    def __init__(self, tag: str, value):
        self.tag = tag
        self.value = value


class ComposeYAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 scalars, duplicate-key errors and Compose's two tags."""


# YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2): the only implicit types besides strings.
ComposeYAMLLoader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
]:
    ComposeYAMLLoader.add_implicit_resolver(tag, re.compile(pattern), first)


def _int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


def _bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


def _mapping(loader, node):
    """A mapping, refusing a key written twice (go-yaml: "mapping key already defined")."""
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping key {key!r} already defined at line {seen[key] + 1}", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


def _tagged(tag):
    def construct(loader, node):
        if isinstance(node, yaml.MappingNode):
            value = _mapping(loader, node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_object(yaml.ScalarNode(
                loader.resolve(yaml.ScalarNode, node.value, (True, False)), node.value,
                node.start_mark, node.end_mark, node.style))
        return Tagged(tag, value)
    return construct


ComposeYAMLLoader.add_constructor("tag:yaml.org,2002:int", _int)
ComposeYAMLLoader.add_constructor("tag:yaml.org,2002:bool", _bool)
ComposeYAMLLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
ComposeYAMLLoader.add_constructor("!reset", _tagged("!reset"))
ComposeYAMLLoader.add_constructor("!override", _tagged("!override"))


def _untag(tree, path=(), found=None):
    """The tree without its Tagged values (a !reset one is dropped), and the tagged paths."""
    found = [] if found is None else found
    if isinstance(tree, Tagged):
        found.append(path)
        if tree.tag == "!reset":
            return _DROP, found
        return _untag(tree.value, path, found)[0], found
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            value, _ = _untag(value, path + (str(key),), found)
            if value is not _DROP:
                out[str(key) if not isinstance(key, str) else key] = value
        return out, found
    if isinstance(tree, list):
        out = [v for v in (_untag(value, path + (i,), found)[0] for i, value in enumerate(tree)) if v is not _DROP]
        return out, found
    return tree, found


_DROP = object()


def parse_documents(text: str, file: Path | str) -> list[tuple[dict, list[tuple]]]:
    """Each YAML document of a compose file: (its tree, the paths tagged !reset or !override).

    An empty document is skipped; a document that is not a mapping is an error.
    """
    try:
        documents = list(yaml.load_all(text, Loader=ComposeYAMLLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        problem = " ".join(p for p in (error.context, error.problem) if p)
        raise ComposeError(f"{where}invalid YAML: {problem}", file) from None
    except yaml.YAMLError as error:
        raise ComposeError(f"invalid YAML: {error}", file) from None
    out = []
    for document in documents:
        if document is None:
            continue
        tree, tagged = _untag(document)
        if not isinstance(tree, dict):
            raise ComposeError("the top level of a compose file must be a mapping (services:, networks:, ...)", file)
        out.append((tree, tagged))
    return out


def read_documents(file: Path) -> list[tuple[dict, list[tuple]]]:
    """:func:`parse_documents` of a file on disk, with a clear error when it cannot be read."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError("no such file", file) from None
    except IsADirectoryError:
        raise ComposeError("is a directory, not a compose file", file) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ComposeError(f"cannot be read: {error}", file) from None
    return parse_documents(text, file)
