"""Append kept tests to a test module a person may have written, losing nothing of theirs.

The model writes new tests as a whole module (imports, helpers, tests). Only some tests are kept;
they go at the end of the existing file with the imports and the module-level helpers they use.
The existing text is never rewritten (ruff only sorts the imports and formats what was added). A
helper whose name the existing file already uses for something else is a conflict: that test is
not merged, rather than silently running against the wrong helper.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class Merge:
    text: str
    merged: list[str] = field(default_factory=list)  # test names appended
    conflicts: dict[str, str] = field(default_factory=dict)  # test name -> why it was left out


def named_tests(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level test functions and test classes, by the name pytest gives them (Class::method)."""
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for child in node.body:
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name.startswith("test"):
                    found[f"{node.name}::{child.name}"] = node
    return found


def _defined(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []


def _used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        a.arg for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for a in n.args.args
    }


def merge_tests(existing: str, new: str, keep: set[str]) -> Merge:
    """`existing` with the tests in `keep` (pytest names, base name for parametrized) from `new`."""
    old_tree = ast.parse(existing) if existing.strip() else ast.Module(body=[], type_ignores=[])
    new_tree = ast.parse(new)
    old_sources = {name: ast.unparse(node) for node in old_tree.body for name in _defined(node)}
    old_imports = {ast.unparse(n) for n in old_tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    helpers = {name: node for node in new_tree.body for name in _defined(node) if not name.startswith(("test", "Test"))}
    result = Merge(existing)
    tests = named_tests(new_tree)
    chosen: list[ast.stmt] = []
    needed: dict[str, ast.stmt] = {}
    for name in keep:
        node = tests.get(name) or tests.get(name.split("[", 1)[0])
        if node is None or node in chosen:
            continue
        wanted, conflict = _closure(node, helpers, old_sources)
        if conflict:
            result.conflicts[name] = conflict
            continue
        chosen.append(node)
        needed.update(wanted)
        result.merged.append(name)
    if not chosen:
        return result
    imports = [
        ast.unparse(n)
        for n in new_tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom)) and ast.unparse(n) not in old_imports
    ]
    order = {id(node): i for i, node in enumerate(new_tree.body)}
    added = sorted({id(n): n for n in [*needed.values(), *chosen]}.values(), key=lambda n: order[id(n)])
    text = existing.rstrip("\n")
    if imports:
        text = _insert_imports(text, old_tree, imports)
    text += "\n\n\n" + "\n\n\n".join(_source(new, n, keep) for n in added) + "\n"
    result.text = text
    return result


def _source(new: str, node: ast.stmt, keep: set[str]) -> str:
    """The node as written; a test class with only its kept tests (and its other members)."""
    if isinstance(node, ast.ClassDef):
        kept = {k.split("[", 1)[0].split("::", 1)[1] for k in keep if k.startswith(f"{node.name}::")}
        body = [
            child
            for child in node.body
            if not (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name.startswith("test"))
            or child.name in kept
        ]
        if len(body) != len(node.body):
            return ast.unparse(ast.ClassDef(**{**node.__dict__, "body": body}))
    return ast.get_source_segment(new, node) or ast.unparse(node)


def _closure(
    node: ast.stmt, helpers: dict[str, ast.stmt], old_sources: dict[str, str]
) -> tuple[dict[str, ast.stmt], str]:
    """The new module's helpers a test uses (transitively) that the existing file lacks."""
    wanted: dict[str, ast.stmt] = {}
    todo = list(_used(node))
    while todo:
        name = todo.pop()
        if name in wanted or name not in helpers:
            continue
        helper = helpers[name]
        if name in old_sources:
            if old_sources[name] != ast.unparse(helper):
                return {}, f"it uses {name}, which the existing tests define differently"
            continue  # the same helper is already there
        wanted[name] = helper
        todo += list(_used(helper))
    return wanted, ""


def _insert_imports(text: str, tree: ast.Module, imports: list[str]) -> str:
    """New import lines after the existing file's last top-level import (or its docstring)."""
    lines = text.split("\n")
    last = max((n.end_lineno or n.lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), default=0)
    if not last and tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
        last = tree.body[0].end_lineno or 1
    return "\n".join([*lines[:last], *imports, *lines[last:]])
