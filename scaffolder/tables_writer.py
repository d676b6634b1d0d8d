"""Writing `tables.yml`: the one place that edits the table contract as text.

Teams comment and lay out `tables.yml` by hand, so it is never re-dumped whole: a new entry is
appended in the file's own style (`scaffold add`), and one key of one entry is replaced or added
(`scaffold profile`), every other line kept byte for byte. The text written is produced by
PyYAML's emitter, never by formatting strings: free text (a description, a comment, a check's
SQL) is data, quoted when YAML needs it (`@x`, a backtick, `*`, `%`, `!`, `: `, ` #`, a line
break, `true`, `12`...) and plain when it reads back the same; it is never parsed as YAML. Quoted
values use double quotes, like the template. Every edit is validated with the whole file
(`lakeforge.tables`) before the caller writes anything.

Style: an entry is a block mapping; a list of scalars is one flow line (`inputs: [orders]`); a
list of mappings is a block list of flow mappings (`- {name: id, type: int}`); nested mappings
are blocks (`source:`, `checks:`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from lakeforge.errors import ConfigError
from lakeforge.tables import TABLES_FILE, TablesFile, parse_tables
from scaffolder.errors import ScaffoldError, first_line

_BREAKS = ("\r\n", "\r", "\n", "\x85", "\u2028", "\u2029")  # PyYAML's line breaks: its marks count these
_YAML_LINES = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029]|$)")


class _FlowMapping(dict):  # type: ignore[type-arg]
    """A mapping written on one line: a column, a monitor."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe emitter in the template's style: indented lists, double quotes when quoting."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _represent_block(dumper: _Dumper, data: Mapping[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)


def _represent_flow(dumper: _Dumper, data: Mapping[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_list(dumper: _Dumper, data: Sequence[Any]) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _represent_block)
_Dumper.add_representer(_FlowMapping, _represent_flow)
_Dumper.add_representer(list, _represent_list)


def _styled(value: Any, in_list: bool = False) -> Any:
    if isinstance(value, Mapping):
        items = {str(k): _styled(v) for k, v in value.items()}
        return _FlowMapping(items) if in_list else items
    if isinstance(value, (list, tuple)):
        return [_styled(v, in_list=True) for v in value]
    return value


def dump(data: Any) -> str:
    """YAML text for `data` in the template's style (one line per scalar: no folding)."""
    return yaml.dump(
        _styled(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf"), default_flow_style=False
    )


def _indented(text: str, prefix: str, eol: str) -> list[str]:
    return [f"{prefix}{line}{eol}" for line in text.splitlines()]


def _eol(text: str) -> str:
    first = next((m.group(0) for m in _YAML_LINES.finditer(text) if m.group(0)), "\n")
    return "\r\n" if first.endswith("\r\n") else "\n"


def list_indent(text: str) -> str:
    """The indentation of the file's table entries (`  - name:` in the template), so a new one matches."""
    match = re.search(r"^( *)- name:", text, flags=re.M)
    return match.group(1) if match else "  "


def entry_text(entry: Mapping[str, Any], indent: str = "  ", eol: str = "\n") -> str:
    """One table entry as a `- name: ...` block at `indent`, in the template's style."""
    body = dump(dict(entry)).splitlines()
    return "".join(f"{indent}{'- ' if i == 0 else '  '}{line}{eol}" for i, line in enumerate(body))


def append_entry(text: str, entry: Mapping[str, Any]) -> str:
    """tables.yml's text with `entry` appended after the last table, every existing line kept."""
    eol = _eol(text)
    block = eol + entry_text(entry, list_indent(text), eol)
    # `\r?$`: in a file with CRLF line breaks, `$` stands before the "\n", after the "\r".
    empty = re.compile(r"^tables:[ \t]*\[\][ \t]*(?:#[^\r\n]*)?(\r?)$", flags=re.M)
    if empty.search(text):
        return empty.sub(r"tables:\1", text, count=1).rstrip("\r\n") + eol + block
    if re.search(r"^tables:[ \t]*(?:#[^\r\n]*)?\r?$", text, flags=re.M):
        return text.rstrip("\r\n") + eol + block
    return text.rstrip("\r\n") + f"{eol}tables:{eol}" + block


def _true_end(node: yaml.Node) -> yaml.Mark:
    """Where a node's own text ends (a block collection's end mark is the next token's start)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        return node.end_mark
    last = node.value[-1]
    return _true_end(last[1] if isinstance(node, yaml.MappingNode) else last)


def entry_node(text: str, table: str) -> yaml.MappingNode:
    """The syntax node of the table's entry (positions, not values: nothing in the file is evaluated)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"{TABLES_FILE} is not valid YAML ({first_line(exc)}); fix it first") from None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "tables" and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    if isinstance(item, yaml.MappingNode) and any(
                        k.value == "name" and isinstance(v, yaml.ScalarNode) and v.value == table for k, v in item.value
                    ):
                        return item
    raise ScaffoldError(f"table {table!r} is not in {TABLES_FILE}")


def set_entry_key(text: str, table: str, key: str, value: Any) -> str:
    """tables.yml with the entry's `key` replaced by `value` (added after the entry's last line when
    missing); every other line of the file is kept."""
    entry = entry_node(text, table)
    if entry.flow_style:
        raise ScaffoldError(
            f"{TABLES_FILE}: table {table!r} is written as one {{...}} mapping; write it as a block "
            "(one key a line, like `scaffold add` does) so its schema can be edited"
        )
    lines = [match.group(0) for match in _YAML_LINES.finditer(text) if match.group(0)]
    eol = _eol(text)
    pair = next(((k, v) for k, v in entry.value if k.value == key), None)
    if pair is not None:
        key_node, value_node = pair
        first = key_node.start_mark.line
        prefix = lines[first][: key_node.start_mark.column]
        indent = key_node.start_mark.column
        end = _true_end(value_node)
        last = end.line - 1 if end.column == 0 and end.line > first else end.line
        rest = lines[last][end.column :] if last == end.line else ""
        if rest.strip() and not rest.strip().startswith("#"):
            raise ScaffoldError(
                f"{TABLES_FILE}: table {table!r} has more on the line where its {key} ends; "
                "put the next key on its own line"
            )
    else:  # not there yet: insert it after the entry's last line
        indent = entry.value[0][0].start_mark.column
        prefix = " " * indent
        end = _true_end(entry)
        first = (end.line if end.column else end.line - 1) + 1
        last = first - 1  # replace no line
    if first >= len(lines) and lines and not lines[-1].endswith(_BREAKS):
        lines[-1] += eol  # the block goes after a last line that had no line break
    body = _indented(dump({key: value}), " " * indent, eol)
    body[0] = prefix + body[0][indent:]
    return "".join(lines[:first] + body + lines[last + 1 :])


def replace_schema(text: str, table: str, columns: Sequence[Mapping[str, Any]]) -> str:
    """tables.yml with the entry's `schema:` lines replaced by `columns`, every other line kept."""
    return set_entry_key(text, table, "schema", [dict(c) for c in columns])


def validated(text: str, nothing_written: str = "nothing was written") -> TablesFile:
    """The whole file with an edit, validated; a one-line ScaffoldError naming the table and field."""
    try:
        return parse_tables(yaml.safe_load(text), TABLES_FILE)
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"{TABLES_FILE} is not valid YAML ({first_line(exc)}); fix it first") from None
    except ConfigError as exc:
        raise ScaffoldError(f"{exc} ({nothing_written})") from None


def unified_diff(before: str, after: str, name: str = TABLES_FILE) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )
