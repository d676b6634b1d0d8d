"""The safe subset of Python model-written code is checked against, before anything runs.

An allowlist, not a denylist: what a transformation and its tests may name is listed, and
everything else is refused with a message the model can act on.

- imports: `pyspark.sql` (and its submodules), a few names of `lakeforge`, and `datetime`,
  `decimal`, `typing`, `logging`, `functools`, `itertools`, `re`, `json`, `math`, `__future__`
  (more per repo with `[tool.scaffold] allowed_imports`); tests also `pytest`, `chispa`,
  `lakeforge.testing` and the module under test (and its inputs' `SCHEMA`);
- builtins: the plain data ones (`len`, `sorted`, `dict`, `ValueError`, ...), never `open`,
  `getattr`, `eval`, `type`, `globals`, `__import__`, `breakpoint`, ...;
- attributes: the public API of the allowed modules and of the values they return (DataFrame,
  Column, Row, the types, `str`, `Decimal`, `datetime`, a logger, pytest's `raises` result),
  the table's column names and the file's own functions — no `_private` or dunder attribute,
  and none of the API's doors out (`write`, `read`, `sql`, `catalog`, temp views, `cache`,
  `rdd`, UDFs, `reflect`, `sparkContext`, the session builder);
- no class with a base, no dunder definitions, no `global`, no assignment to an attribute, no
  bare `except:`, no `async`; SQL strings only as literals, each inside the SQL allowlist of
  `sql_subset`; no special date string (`'today'`) anywhere; `str.format` only on literals
  without attribute lookups;
- tests: no `pytest_plugins` or `pytest_*` hooks, fixtures only `spark` (and their own), no
  `skip`/`xfail`/`usefixtures`/`unguarded`, no `request`, `pytestconfig` or `monkeypatch`.

Attribute chains rooted at an imported module are resolved against the real module (a trusted
library, imported here): `logging.os` is the `os` module, and refused like `import os`.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from scaffolder.problems import Problem, ProblemKind
from scaffolder.sql_subset import special_datetime, sql_problem

STDLIB = ("datetime", "decimal", "typing", "logging", "functools", "itertools", "re", "json", "math", "__future__")
PYSPARK = (
    "pyspark.sql",
    "pyspark.sql.functions",
    "pyspark.sql.functions.builtin",
    "pyspark.sql.types",
    "pyspark.sql.window",
    "pyspark.sql.column",
    "pyspark.sql.dataframe",
    "pyspark.sql.group",
    "pyspark.errors",
)
MODULE_IMPORTS = (*PYSPARK, *STDLIB)  # exact names: `logging.handlers` is not `logging`
TEST_IMPORTS = ("pytest",)
TEST_PACKAGES = ("chispa",)  # and their submodules
# lakeforge is allowed by name: what a transformation or a test needs, not the I/O helpers.
LAKEFORGE_NAMES = {
    "lakeforge.io": {"add_ingestion_metadata"},
    "lakeforge.tables": {"INGESTED_AT", "SOURCE_FILE", "METADATA_COLUMNS"},
    "lakeforge.observability": {"monte_carlo_rule"},
}
LAKEFORGE_TEST_NAMES = {
    "lakeforge.testing": {
        "make_df",
        "assert_df_equal",
        "assert_schema_equal",
        "assert_contract",
        "assert_landed_rows_kept",
    }
}
# typing is allowed for annotations only: get_type_hints and ForwardRef evaluate strings.
TYPING_NAMES = {
    "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Iterable", "Iterator", "Sequence",
    "Mapping", "Callable", "Literal", "Final", "ClassVar", "TYPE_CHECKING", "Generator", "NamedTuple", "cast",
}  # fmt: skip
# What tells the round from the user's machine later, or a run from a run: who runs it, when, chance.
# Transformations and tests are deterministic functions of their inputs (load time comes from
# lakeforge.io.add_ingestion_metadata).
NONDETERMINISTIC = {
    "current_user", "user", "session_user", "current_catalog", "current_database", "current_schema",
    "current_date", "current_timestamp", "current_timezone", "localtimestamp", "now", "curdate", "today", "utcnow",
    "unix_timestamp", "rand", "randn", "random", "uuid", "shuffle", "monotonically_increasing_id", "input_file_name",
    "input_file_block_start", "input_file_block_length", "spark_partition_id", "version", "try_aes_decrypt",
    "current_time", "uniform", "randstr", "aes_encrypt", "sample", "sampleBy", "randomSplit",
}  # fmt: skip
MODULE_NAMES = {"SCHEMA", "transform"}  # what a test imports from its module (an input's: SCHEMA)
BUILTINS = {
    "abs", "all", "any", "bool", "bytes", "chr", "dict", "divmod", "enumerate", "filter", "float", "frozenset",
    "hash", "int", "isinstance", "iter", "len", "list", "map", "max", "min", "next", "ord", "pow", "print",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None", "NotImplemented", "Ellipsis",
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError", "LookupError",
    "NotImplementedError", "OverflowError", "RuntimeError", "StopIteration", "TypeError", "ValueError",
    "ZeroDivisionError", "UnicodeError", "Warning", "UserWarning", "DeprecationWarning",
}  # fmt: skip
DUNDER_NAMES = {"__name__"}  # the only dunder a file may read
# The doors out of the allowed APIs: storage, the catalog and SQL, server-side state, Python run
# by Spark, the JVM, other sessions. Refused wherever they appear.
DENIED_ATTRIBUTES = {
    "write", "writeStream", "writeTo", "mergeInto", "read", "readStream", "sql", "table", "catalog",
    "createTempView", "createOrReplaceTempView", "createGlobalTempView", "createOrReplaceGlobalTempView",
    "registerTempTable", "cache", "persist", "unpersist", "checkpoint", "localCheckpoint", "storageLevel",
    "is_cached", "rdd", "foreach", "foreachPartition", "mapInPandas", "mapInArrow", "applyInPandas",
    "applyInPandasWithState", "applyInArrow", "transformWithStateInPandas", "transformWithState", "cogroup",
    "pandas_api", "to_pandas_on_spark", "inputFiles", "sparkContext", "conf", "udf", "udtf", "pandas_udf", "arrow_udf",
    "dataSource", "streams", "addArtifact", "addArtifacts", "copyFromLocalToFs", "newSession", "stop",
    "interruptAll", "interruptTag", "interruptOperation", "builder", "getActiveSession", "active", "client",
    "registerFunction", "registerJavaFunction", "reflect", "java_method", "try_reflect", "call_udf",
    "call_function", "format_map", "mro", "profile", "tvf", "getOrCreate", "create", "remote",
    "observe", "Observation", "sameSemantics", "semanticHash", "explain", "executionInfo", "hint",
    *NONDETERMINISTIC,
}  # fmt: skip
SQL_METHODS = {"expr", "selectExpr", "where", "filter"}
FUNCTIONS_MODULES = ("pyspark.sql.functions",)  # its calls return Columns
SQL_DENIED = re.compile(
    r"\b(reflect|java_method|try_reflect|call_function|call_udf|udf|" + "|".join(sorted(NONDETERMINISTIC)) + r")\s*\(",
    re.I,
)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that would make an expression a query or a statement: never a bare column name in SQL
# (a column with such a name is written `quoted`).
STATEMENT_WORDS = {
    "select", "table", "values", "with", "join", "union", "intersect", "except", "lateral", "insert", "update",
    "delete", "merge", "create", "drop", "alter", "set", "reset", "use", "show", "describe", "explain", "cache",
    "uncache", "refresh", "load", "grant", "revoke", "call", "execute", "declare", "exists", "identifier",
}  # fmt: skip
DICT_AGGREGATES = {"sum", "avg", "mean", "max", "min", "count", "first", "last", "stddev", "variance"}
PYTEST_NAMES = {"mark", "fixture", "raises", "approx", "param", "fail", "warns"}
PYTEST_DENIED_MARKS = {"skip", "skipif", "xfail", "usefixtures", "unguarded", "filterwarnings"}
RESERVED = ("_lf", "_lakeforge")  # names scaffold's mutants inject
FIXTURES = {"spark"}
EXCEPTION_INFO = {
    "value",
    "type",
    "match",
    "typename",
    "errisinstance",
    "group_contains",
    "args",
}  # pytest.raises, exceptions


@dataclass
class Context:
    """What a file may use: its kind, the table's module and inputs, the columns it may name."""

    is_test: bool
    package: str = ""
    module: str = ""  # dotted name of the table's module (tests may import it)
    inputs: list[str] = field(default_factory=list)  # dotted modules of the table's inputs (their SCHEMA)
    columns: set[str] = field(default_factory=set)  # column names (Row attributes)
    extra_imports: tuple[str, ...] = ()  # [tool.scaffold] allowed_imports


@functools.cache
def api_attributes() -> frozenset[str]:
    """Public attributes of what allowed code handles: pyspark.sql's classes, the types, plain values."""
    import datetime
    import decimal
    import logging

    import pyspark.sql as sql
    import pyspark.sql.types as types
    from pyspark.sql import (
        Column,
        DataFrame,
        DataFrameNaFunctions,
        DataFrameStatFunctions,
        GroupedData,
        Row,
        SparkSession,
        Window,
    )
    from pyspark.sql.window import WindowSpec

    classes: list[Any] = [
        Column, DataFrame, DataFrameNaFunctions, DataFrameStatFunctions, GroupedData, Row, SparkSession, Window,
        WindowSpec, str, bytes, int, float, bool, list, tuple, dict, set, frozenset, range, decimal.Decimal,
        datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone, re.Pattern, re.Match,
        logging.Logger,
    ]  # fmt: skip
    classes += [v for v in vars(types).values() if isinstance(v, type) and v.__module__ == types.__name__]
    classes += [v for v in vars(sql).values() if isinstance(v, type)]
    names = {name for cls in classes for name in dir(cls) if not name.startswith("_")}
    return frozenset((names | EXCEPTION_INFO) - DENIED_ATTRIBUTES)


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str, context: Context) -> None:
        self.path = path
        self.context = context
        self.problems: list[Problem] = []
        self.modules: dict[str, str] = {}  # local name -> module it stands for
        self.imported: dict[str, str] = {}  # local name -> "module.name" it was imported as
        self.bound: set[str] = set()
        self.own: set[str] = set()  # functions and classes the file defines
        self.fixtures: set[str] = set()
        self.parametrized: dict[int, set[str]] = {}  # id(function) -> its parametrize argnames
        self.sql_calls: set[int] = set()  # functions called with SQL (checked at the call)
        self.strings: set[str] = set()  # names bound to strings built at run time
        self.bindings: dict[str, list[ast.AST | None]] = {}  # name -> what binds it: a value, an import's alias, None
        self.condition_calls: set[int] = set()  # `.where`/`.filter` attributes called directly (checked at the call)
        self.assigned: set[int] = set()  # the name nodes an assignment binds (their values are in `bindings`)
        self.docstrings: set[int] = set()
        self.sql_literals: dict[int, ast.Constant] = {}  # the literal strings Spark parses as SQL
        self.column_names: set[str] = set()  # identifier-like strings of the file: the names it may give columns

    def report(self, rule: str, node: ast.AST, what: str, fix: str) -> None:
        line = getattr(node, "lineno", "?")
        self.problems.append(Problem(ProblemKind.POLICY, f"{rule}: {self.path} line {line}: {what}; {fix}"))

    # --- imports ----------------------------------------------------------------------------------

    def module_allowed(self, name: str) -> bool:
        exact = (*MODULE_IMPORTS, *(TEST_IMPORTS if self.context.is_test else ()))
        packages = (*self.context.extra_imports, *(TEST_PACKAGES if self.context.is_test else ()))
        if name in exact or any(name == p or name.startswith(p + ".") for p in packages):
            return True
        if name in LAKEFORGE_NAMES or name == "lakeforge":
            return True
        if self.context.is_test and name in LAKEFORGE_TEST_NAMES:
            return True
        return self.context.is_test and name in self.context.inputs

    def _imports_hint(self) -> str:
        modules = "pyspark.sql, datetime, decimal, typing, logging, functools, itertools, re, json, math"
        lakeforge = "lakeforge.io.add_ingestion_metadata"
        if self.context.is_test:
            return (
                f"tests may import {modules}, pytest, chispa, lakeforge.testing (make_df, assert_df_equal, "
                f"assert_schema_equal) and {self.context.module or 'the module under test'}"
            )
        return f"a transformation may import {modules} and {lakeforge} (add more with [tool.scaffold] allowed_imports)"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in (self.context.module, *self.context.inputs):
                self.report(
                    "import-not-allowed",
                    node,
                    f"import {alias.name}",
                    f"from {alias.name} import SCHEMA, transform (a test uses nothing else of it)",
                )
                continue
            if not self.module_allowed(alias.name):
                self.report("import-not-allowed", node, f"import {alias.name}", self._imports_hint())
                continue
            if alias.asname:
                self.modules[alias.asname] = alias.name
            else:
                self.modules[alias.name.split(".")[0]] = alias.name.split(".")[0]
            self.bound.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.report(
                "import-not-allowed",
                node,
                f"a relative import (from {'.' * node.level}{module})",
                "import by the full name",
            )
            return
        if module == "__future__":
            return
        for alias in node.names:
            local = alias.asname or alias.name
            self.bound.add(local)
            if alias.name == "*":
                self.report("import-not-allowed", node, f"from {module} import *", "import the names you use")
                continue
            qualified = f"{module}.{alias.name}"
            if module in LAKEFORGE_NAMES or module in LAKEFORGE_TEST_NAMES:
                names = LAKEFORGE_NAMES.get(module, set()) | (
                    LAKEFORGE_TEST_NAMES.get(module, set()) if self.context.is_test else set()
                )
                if alias.name not in names:
                    self.report("import-not-allowed", node, f"from {module} import {alias.name}", self._imports_hint())
                continue
            if module == "lakeforge":
                self.report("import-not-allowed", node, f"from lakeforge import {alias.name}", self._imports_hint())
                continue
            if self.context.is_test and (module == self.context.module or module in self.context.inputs):
                allowed = MODULE_NAMES if module == self.context.module else {"SCHEMA"}
                if alias.name not in allowed:
                    self.report(
                        "import-not-allowed",
                        node,
                        f"from {module} import {alias.name}",
                        f"a test imports only {' and '.join(sorted(allowed))} from it: test transform, not its helpers",
                    )
                self.imported[local] = qualified  # model code: never imported here to look at it
                continue
            if not self.module_allowed(module) and not self.module_allowed(qualified):
                self.report("import-not-allowed", node, f"from {module} import {alias.name}", self._imports_hint())
                continue
            if module == "typing" and alias.name not in TYPING_NAMES:
                self.report("name-not-allowed", node, f"from typing import {alias.name}", "typing is for annotations")
                continue
            target = _resolve(module, alias.name)
            if isinstance(target, ModuleType):
                if not self.module_allowed(target.__name__):
                    self.report("import-not-allowed", node, f"from {module} import {alias.name}", self._imports_hint())
                    continue
                self.modules[local] = target.__name__
            elif alias.name.startswith("_") or alias.name in DENIED_ATTRIBUTES:
                self.report(
                    "name-not-allowed", node, f"from {module} import {alias.name}", "use the public DataFrame API"
                )
            else:
                self.imported[local] = qualified

    # --- names, attributes, calls -----------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if isinstance(node.ctx, ast.Load) and self._is_expr(node) and id(node) not in self.sql_calls:
            self.report("sql-not-allowed", node, f"{name} passed as a value", "call it with a literal SQL string")
        if name.startswith(RESERVED):
            self.report("name-not-allowed", node, f"the name {name}", "names starting with _lf are scaffold's own")
        if name.startswith("__") and name.endswith("__"):
            if name not in DUNDER_NAMES:
                self.report("no-dunder", node, f"the name {name}", "dunder names reach Python's internals")
        elif (
            isinstance(node.ctx, ast.Load)
            and name not in self.bound
            and hasattr(builtins, name)
            and name not in BUILTINS
        ):
            self.report(
                "name-not-allowed",
                node,
                f"the builtin {name}",
                "generated code may use plain data builtins (len, sorted, dict, ...), not reflection, files or eval",
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attribute = node.attr
        if (attribute == "selectExpr" or self._is_expr(node)) and id(node) not in self.sql_calls:
            self.report("sql-not-allowed", node, f".{attribute} passed as a value", "call it with a literal SQL string")
        if (
            attribute in ("where", "filter")
            and isinstance(node.ctx, ast.Load)
            and id(node) not in self.condition_calls
            and self._module_of(node.value) is None
        ):
            self.report("sql-not-allowed", node, f".{attribute} passed as a value", "call it with its condition")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.report(
                "no-attribute-assignment", node, f"assigns .{attribute}", "build new values instead of changing objects"
            )
        if attribute.startswith("_"):
            self.report("no-dunder", node, f".{attribute}", "private and dunder attributes are not part of any API")
            self.generic_visit(node)
            return
        base_module = self._module_of(node.value)
        if base_module is not None:
            self._module_attribute(node, base_module, attribute)
        elif attribute in DENIED_ATTRIBUTES:
            self.report("attribute-not-allowed", node, f".{attribute}", _denied_fix(attribute))
        elif not self._attribute_known(node, attribute):
            self.report(
                "attribute-not-allowed",
                node,
                f".{attribute}",
                "only the public API of pyspark.sql and of plain Python values, and the table's columns, may be used",
            )
        self.generic_visit(node)

    def _attribute_known(self, node: ast.Attribute, attribute: str) -> bool:
        if self._chain(node.value) == ["pytest", "mark"]:  # pytest.mark.<marker>: any marker but these
            if attribute in PYTEST_DENIED_MARKS:
                self.report(
                    "no-skip",
                    node,
                    f"pytest.mark.{attribute}",
                    "generated tests run, always, with only the spark fixture",
                )
            return True
        return attribute in api_attributes() or attribute in self.context.columns or attribute in self.own

    def _chain(self, node: ast.AST) -> list[str]:
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Attribute):
            inner = self._chain(node.value)
            return [*inner, node.attr] if inner else []
        return []

    def _module_of(self, node: ast.AST) -> str | None:
        """The module an expression names (an import alias, `F`, `pyspark.sql.functions`), else None."""
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
            base = self._module_of(node.value)
            if base is not None and isinstance(_resolve(base, node.attr), ModuleType):
                return f"{base}.{node.attr}"
        return None

    def _module_attribute(self, node: ast.Attribute, module: str, attribute: str) -> None:
        if module == "pytest":
            if attribute not in PYTEST_NAMES:
                self.report(
                    "name-not-allowed",
                    node,
                    f"pytest.{attribute}",
                    f"tests may use pytest.{', pytest.'.join(sorted(PYTEST_NAMES))}",
                )
            return
        if self._chain(node.value) == ["pytest", "mark"] or module == "pytest.mark":
            return
        if module.startswith("lakeforge"):
            allowed = LAKEFORGE_NAMES.get(module, set()) | (
                LAKEFORGE_TEST_NAMES.get(module, set()) if self.context.is_test else set()
            )
            target = _resolve(module, attribute)
            if isinstance(target, ModuleType) and self.module_allowed(target.__name__):
                return
            if attribute not in allowed:
                self.report("name-not-allowed", node, f"{module}.{attribute}", self._imports_hint())
            return
        if module == "typing" and attribute not in TYPING_NAMES:
            self.report("name-not-allowed", node, f"typing.{attribute}", "typing is for annotations")
            return
        target = _resolve(module, attribute)
        if target is _MISSING:
            self.report("name-not-allowed", node, f"{module}.{attribute}", f"{module} has no public {attribute}")
        elif isinstance(target, ModuleType) and not self.module_allowed(target.__name__):
            self.report(
                "import-not-allowed", node, f"{module}.{attribute} (the module {target.__name__})", self._imports_hint()
            )
        elif attribute in DENIED_ATTRIBUTES:
            self.report("name-not-allowed", node, f"{module}.{attribute}", _denied_fix(attribute))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if self._is_expr(func) or name == "selectExpr":
            self.sql_calls.add(id(func))
            for argument in node.args:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    self.sql_literals[id(argument)] = argument
                else:
                    self.report(
                        "sql-not-allowed",
                        node,
                        f"{name or 'expr'}() with SQL that is not a literal string",
                        "write each SQL expression as a literal string, or use pyspark.sql.functions",
                    )
                    break
        elif (
            isinstance(func, ast.Attribute)
            and name in ("where", "filter")
            and not self._functions_module(func.value)  # F.filter(col, f): a higher-order function on a column
        ):
            # An allowlist of shapes: a condition is a literal SQL string (checked as a constant) or
            # an expression that is a Column by its shape; never whatever a dict, a call or a loop
            # hands over, which could be SQL built at run time (`reflect(...)` assembled in pieces).
            self.condition_calls.add(id(func))
            if node.keywords or len(node.args) != 1 or not self._column_shaped(node.args[0], frozenset()):
                self.report(
                    "sql-not-allowed",
                    node,
                    f"{name}() with a condition that is neither a literal SQL string nor a Column expression",
                    "pass a Column condition (F.col('x') > 0, df.x.isNotNull(), F.col('flag')), a name assigned "
                    "one, or a literal SQL string",
                )
        if name == "agg" and any(isinstance(argument, ast.Dict) for argument in node.args):
            # `agg({"amount": "sum"})` names functions in strings: only plain aggregates.
            for argument in node.args:
                values = argument.values if isinstance(argument, ast.Dict) else []
                if any(not (isinstance(v, ast.Constant) and str(v.value).lower() in DICT_AGGREGATES) for v in values):
                    self.report(
                        "sql-not-allowed",
                        node,
                        "agg() with a dict that names other than plain aggregates",
                        f"use Column aggregates (F.sum(...)), or one of {', '.join(sorted(DICT_AGGREGATES))}",
                    )
        if isinstance(func, ast.Attribute) and func.attr == "format":
            template = func.value
            if not (isinstance(template, ast.Constant) and isinstance(template.value, str)):
                self.report("format-not-allowed", node, ".format() on a computed string", "use an f-string")
            elif re.search(r"\{[^{}]*[.\[][^{}]*\}", template.value):
                self.report("format-not-allowed", node, "a format field that looks up attributes", "use an f-string")
        self.generic_visit(node)

    def _column_shaped(self, node: ast.AST, seen: frozenset[str], direct: bool = True) -> bool:
        """A condition that is a literal SQL string or, by its shape alone, never a string.

        A literal counts only as the condition itself (`direct`: also through `or`, `if-else` and a
        name bound to it), never as the receiver of a call (`"x".replace(...)`). Comparisons, `~`,
        `&`, `|`, `^` never give a string; neither does a `pyspark.sql.functions` call through an
        unshadowed name, nor a Column method that no built-in type and no function of this file
        has (calling it on a string fails), on any receiver.
        """
        if isinstance(node, ast.Constant):
            if direct and isinstance(node.value, str):
                self.sql_literals[id(node)] = node
                return True
            return False
        if isinstance(node, ast.Compare):
            return True
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, (ast.Invert, ast.Not))
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor))
        if isinstance(node, ast.BoolOp):
            return all(self._column_shaped(value, seen, direct) for value in node.values)
        if isinstance(node, ast.IfExp):
            return self._column_shaped(node.body, seen, direct) and self._column_shaped(node.orelse, seen, direct)
        if isinstance(node, ast.Call):
            func = node.func
            if self._functions_module(func, name_only=True):
                return True  # `col(...)` imported from pyspark.sql.functions
            if isinstance(func, ast.Attribute):
                if self._functions_module(func.value):
                    return True  # `F.col(...)`
                if func.attr in self.own:
                    return False  # a method of this file's own class could return anything
                if func.attr in column_methods():
                    return True
                # startswith, endswith, ...: Column's and str's, so only on a receiver that is no string
                return func.attr in column_api() and self._column_shaped(func.value, seen, direct=False)
            return False
        if isinstance(node, ast.Name):
            values = self.bindings.get(node.id)
            if not values or node.id in seen:
                return False
            inner = seen | {node.id}
            return all(value is not None and self._column_shaped(value, inner, direct) for value in values)
        return False

    def _functions_module(self, node: ast.AST, name_only: bool = False) -> bool:
        """`node` names pyspark.sql.functions (or, `name_only`, a name imported from it), through a
        name bound only by its import: a parameter or assignment called `F` or `col` is not it."""
        base = node
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name) or not all(isinstance(b, ast.alias) for b in self.bindings.get(base.id, [])):
            return False
        if name_only:
            return base is node and self.imported.get(base.id, "").startswith(FUNCTIONS_MODULES)
        return (self._module_of(node) or "").startswith(FUNCTIONS_MODULES)

    def _is_expr(self, node: ast.AST) -> bool:
        """`F.expr`, `functions.expr`, or a name imported as pyspark.sql.functions.expr."""
        if isinstance(node, ast.Name):
            return self.imported.get(node.id, "").endswith("functions.expr")
        if isinstance(node, ast.Attribute) and node.attr == "expr":
            module = self._module_of(node.value)
            return module is not None and module.startswith("pyspark.sql.functions")
        return False

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings:
            return
        if IDENTIFIER.match(node.value):
            self.column_names.add(node.value)
        if special_datetime(node.value):
            self.report(
                "sql-not-allowed",
                node,
                f"the string {node.value!r}, which Spark reads as the current date or time when it is cast",
                "transformations and tests are functions of their rows: take dates from the data",
            )
        if SQL_DENIED.search(node.value):
            self.report(
                "sql-not-allowed",
                node,
                f"a string that calls {SQL_DENIED.search(node.value).group(1)}() in SQL",  # type: ignore[union-attr]
                "no Java reflection, UDFs, clocks, users or randomness in SQL either",
            )

    def visit_BinOp(self, node: ast.BinOp) -> None:
        folded = _fold(node)
        if isinstance(folded, str) and SQL_DENIED.search(folded):
            self.report(
                "sql-not-allowed", node, "a string built to call a denied SQL function", "write SQL as a literal"
            )
        self.generic_visit(node)

    # --- definitions and statements ----------------------------------------------------------------

    def _define(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        if node.name.startswith("__") and node.name.endswith("__"):
            self.report("no-dunder", node, f"defines {node.name}", "dunder methods change how Python itself behaves")
        if node.name.startswith("pytest_"):
            self.report("no-pytest-hooks", node, f"defines {node.name}", "tests may not hook into pytest")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define(node)
        if self.context.is_test:
            self._fixtures(node)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.report("no-async", node, f"async def {node.name}", "write plain functions")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._define(node)
        if not self.context.is_test:
            self.report("no-classes", node, f"class {node.name}", "a transformation is functions and constants")
        elif node.bases or node.keywords:
            self.report(
                "no-classes",
                node,
                f"class {node.name} with a base",
                "test classes group tests: `class TestX:` with no base",
            )
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.report("no-global", node, "a global statement", "return values instead of changing module state")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.report("no-global", node, "a nonlocal statement", "return values instead of changing enclosing state")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self.report(
                "no-bare-except", node, "a bare except:", "catch the exception you expect (or use pytest.raises)"
            )
        elif isinstance(node.type, ast.Name) and node.type.id == "BaseException":
            self.report("no-bare-except", node, "except BaseException", "catch the exception you expect")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == "pytest_plugins":
                self.report("no-pytest-hooks", node, "pytest_plugins", "tests may not load pytest plugins")
            elif isinstance(target, ast.Name) and target.id.startswith("pytest_") and self.context.is_test:
                self.report("no-pytest-hooks", node, target.id, "tests may not hook into pytest")
            elif isinstance(target, ast.Subscript) and self._module_of(target.value) is not None:
                self.report("no-attribute-assignment", node, "assigns into a module", "build new values instead")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.generic_visit(node)

    # --- tests: fixtures and markers -----------------------------------------------------------------

    def _fixtures(self, node: ast.FunctionDef) -> None:
        is_fixture = any(
            self._chain(d.func if isinstance(d, ast.Call) else d)[:2] == ["pytest", "fixture"]
            for d in node.decorator_list
        )
        names: set[str] = set()
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            chain = self._chain(call.func if call is not None else decorator)
            if chain[:2] == ["pytest", "mark"] and len(chain) > 2:
                mark = chain[2]
                if mark == "parametrize" and call and call.args:
                    first = call.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        names |= {n.strip() for n in first.value.split(",") if n.strip()}
                    elif isinstance(first, (ast.List, ast.Tuple)):
                        names |= {
                            e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                        }
                    if any(k.arg == "indirect" for k in call.keywords):
                        self.report(
                            "no-fixtures", decorator, "parametrize(indirect=...)", "parametrize values, not fixtures"
                        )
        if not (node.name.startswith("test") or is_fixture):
            return
        arguments = [a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]]
        for argument in arguments:
            if argument in ("self",) or argument in names or argument in FIXTURES or argument in self.fixtures:
                continue
            self.report(
                "no-fixtures",
                node,
                f"{node.name} requests the fixture {argument}",
                "tests get only the spark fixture (and fixtures defined in this file); build data with make_df",
            )

    def visit_Module(self, node: ast.Module) -> None:
        for child in ast.walk(node):
            if isinstance(child, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.body:
                first = child.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    self.docstrings.add(id(first.value))
            self._record_bindings(child)
            if not isinstance(child, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or child.value is None:
                continue
            if _builds_string(child.value) or _is_text(child.value):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                self.strings |= {t.id for t in targets if isinstance(t, ast.Name)}
        for child in ast.walk(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.own.add(child.name)
                self.bound.add(child.name)
                if isinstance(child, ast.FunctionDef) and any(
                    self._chain(d.func if isinstance(d, ast.Call) else d)[-1:] == ["fixture"]
                    for d in child.decorator_list
                ):
                    self.fixtures.add(child.name)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                self.bound.add(child.id)
            elif isinstance(child, ast.arg):
                self.bound.add(child.arg)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                self.bound.add(child.name)
            elif isinstance(child, (ast.alias,)):
                self.bound.add((child.asname or child.name).split(".")[0])
        for statement in node.body:  # imports first, so aliases are known wherever they are used
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                self.visit(statement)
        for statement in node.body:
            if not isinstance(statement, (ast.Import, ast.ImportFrom)):
                self.visit(statement)

    def _record_bindings(self, node: ast.AST) -> None:
        """What every name is bound to, file-wide: an assignment's value, or None for any other
        binding (an argument, a loop, unpacking, an import, `with`, `except`), which no shape
        check can see into. `ast.walk` meets an assignment before its target names."""
        bound: list[tuple[ast.AST, ast.AST | None]] = []  # (a name node, its value)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names = [t for t in ast.walk(target) if isinstance(t, ast.Name)]
                bound += [(t, node.value if t is target else None) for t in names]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name):
            bound.append((node.target, node.value))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            keeps = isinstance(node.op, (ast.BitAnd, ast.BitOr, ast.BitXor))  # `cond &= ...` stays a Column
            bound.append((node.target, node.value if keeps else None))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            name = node.rest if isinstance(node, ast.MatchMapping) else node.name
            if name:
                self.bindings.setdefault(name, []).append(None)
            return
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if id(node) not in self.assigned:
                self.bindings.setdefault(node.id, []).append(None)
            return
        else:
            name = (
                node.arg
                if isinstance(node, ast.arg)
                else (node.asname or node.name).split(".")[0]
                if isinstance(node, ast.alias)
                else node.name
                if isinstance(node, (ast.ExceptHandler, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                else None
            )
            if name:  # an import is kept as its alias: `_functions_module` tells it from the rest
                self.bindings.setdefault(name, []).append(node if isinstance(node, ast.alias) else None)
            return
        for name_node, value in bound:
            if isinstance(name_node, ast.Name):
                self.assigned.add(id(name_node))
                self.bindings.setdefault(name_node.id, []).append(value)


_MISSING = object()


@functools.cache
def column_api() -> frozenset[str]:
    """A Column's public methods."""
    from pyspark.sql import Column

    return frozenset(n for n in dir(Column) if not n.startswith("_") and callable(getattr(Column, n)))


@functools.cache
def column_methods() -> frozenset[str]:
    """Public methods of a Column that no built-in value has: on a string (or a number, a list, a
    dict, bytes, a date, a decimal) they fail instead of returning one."""
    import datetime
    import decimal

    others = (str, bytes, int, float, bool, list, tuple, dict, set, datetime.datetime, decimal.Decimal)
    taken = {name for kind in others for name in dir(kind)}
    return column_api() - taken


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _builds_string(node: ast.AST) -> bool:
    """An expression that makes a string at run time: an f-string, concatenation, join, format, str()."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return any(
            _builds_string(side) or (isinstance(side, ast.Constant) and isinstance(side.value, str))
            for side in (node.left, node.right)
        )
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("join", "format", "replace", "upper", "lower", "strip"):
            return True
        return isinstance(func, ast.Name) and func.id in ("str", "repr", "chr")
    return False


def _fold(node: ast.AST) -> object:
    """The value of a concatenation of constants ('ref' + 'lect(1)'), else None."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
    return None


TRUSTED = ("pyspark", "lakeforge", "pytest", "_pytest", "chispa", *STDLIB)


def _resolve(module: str, attribute: str) -> Any:
    """The real object `module.attribute` names, or _MISSING; only ever a trusted library's module.

    The table's own module and its inputs are model code: they are never imported here.
    """
    if not (module.split(".")[0] in TRUSTED or any(module == e or module.startswith(e + ".") for e in _EXTRA)):
        return _MISSING
    try:
        owner = importlib.import_module(module)
    except Exception:
        return _MISSING
    value = getattr(owner, attribute, _MISSING)
    if value is _MISSING:
        try:
            return importlib.import_module(f"{module}.{attribute}")
        except Exception:
            return _MISSING
    return value


def _denied_fix(attribute: str) -> str:
    if attribute in ("write", "writeStream", "writeTo", "read", "readStream", "sql", "table", "catalog", "saveAsTable"):
        return "transform is pure (DataFrames in, one DataFrame out) and tests build data with make_df"
    if attribute in ("udf", "pandas_udf", "udtf", "mapInPandas", "applyInPandas", "mapInArrow"):
        return "use pyspark.sql.functions: Python UDFs are slow on Databricks and not allowed here"
    return "it reaches outside the DataFrame API (storage, sessions, server state or the JVM)"


def check(path: str, tree: ast.Module, context: Context) -> list[Problem]:
    """Every place the file leaves the safe subset, one problem each (empty: it is inside)."""
    checker = _Checker(path, context)
    checker.visit(tree)
    names = (context.columns | checker.column_names) - STATEMENT_WORDS
    for literal in checker.sql_literals.values():
        problem = sql_problem(str(literal.value), names)
        if problem:
            checker.report(
                "sql-not-allowed",
                literal,
                f"SQL with {problem}",
                "SQL strings may use the table's columns, operators and deterministic functions only; "
                "or use pyspark.sql.functions",
            )
    return list(dict.fromkeys(checker.problems))


_EXTRA: set[str] = set()  # [tool.scaffold] allowed_imports of this process's project (trusted by its owner)


def context_for(spec: Any, tables: Any, package: str, is_test: bool, extra_imports: Iterable[str] = ()) -> Context:
    """The context of a table's module or tests (`spec` a TableSpec, `tables` its TablesFile)."""
    inputs = [tables.get(name) for name in spec.inputs]
    columns = set(spec.column_names()).union(*(set(i.column_names()) for i in inputs))
    _EXTRA.update(extra_imports)
    return Context(
        is_test=is_test,
        package=package,
        module=spec.module_name(package),
        inputs=[i.module_name(package) for i in inputs],
        columns=columns,
        extra_imports=tuple(extra_imports),
    )
