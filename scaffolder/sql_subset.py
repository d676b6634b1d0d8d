"""The SQL a reply may write in `F.expr`, `selectExpr`, `where` and `filter`: an allowlist, by token.

A pattern that looks for `name(` is a list of what is forbidden, and SQL has other ways to say
the same thing: a comment between the name and its parenthesis (`reflect/**/(...)`), a quoted
name (`` `reflect`(...) ``), a function Spark calls without parentheses (`current_date`,
`current_user`), a typed literal that reads the clock (`date'today'`), a subquery that reads a
file (``(SELECT ... FROM text.`/path`)``). Here every token must be one this module lists:

- a function call only to a deterministic, side-effect-free function of `pyspark.sql.functions`
  (the same ones the Python subset allows) or a SQL operator form (`cast`, `if`, ...);
- a bare word only as a keyword of expressions (no SELECT, no statement), a type, a lambda's
  parameter, an alias (`AS x`), a field after a dot, or a name the caller allows (the table's
  declared columns and the names the file gives columns), never one Spark resolves to the clock
  or the user;
- literals: numbers, strings (never one of Spark's special datetime values), and date/timestamp
  literals that spell a date;
- no comments, no parameters, no characters SQL does not need.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Spark turns these strings into the current date or time when it folds a cast of a constant
# (`F.lit("today").cast("date")`, `date'now'`, `cast('tomorrow' as timestamp)`); `epoch` is fixed.
SPECIAL_DATETIME = re.compile(
    r"^\s*(now|today|tomorrow|yesterday)"
    r"(\s+(Z|UTC|GMT|UT|[A-Za-z]+/[A-Za-z_/+-]+|(UTC|GMT|UT)?[+-]\d{1,2}(:?\d{2})?))?\s*$",
    re.I,
)
# Words Spark resolves without parentheses to who runs the query and when (its grammar's
# CURRENT_LIKE and the analyzer's literal functions): never a column name here.
NILADIC = {
    "current_date", "current_timestamp", "current_time", "current_user", "user", "session_user",
    "localtimestamp", "current_catalog", "current_database", "current_schema", "current_timezone", "now",
}  # fmt: skip
KEYWORDS = {
    "and", "or", "not", "is", "null", "true", "false", "in", "between", "like", "ilike", "rlike", "regexp",
    "escape", "case", "when", "then", "else", "end", "as", "distinct", "over", "partition", "by", "order",
    "asc", "desc", "nulls", "first", "last", "rows", "range", "unbounded", "preceding", "following", "current",
    "row", "interval", "year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
    "minute", "minutes", "second", "seconds", "millisecond", "milliseconds", "microsecond", "microseconds",
    "to", "div", "any", "some", "all", "filter", "where", "ignore", "respect", "within", "group", "from",
    "for", "both", "leading", "trailing", "unknown",
}  # fmt: skip
TYPES = {
    "string", "int", "integer", "bigint", "long", "smallint", "short", "tinyint", "byte", "double", "float",
    "real", "decimal", "dec", "numeric", "boolean", "binary", "date", "timestamp", "timestamp_ntz",
    "timestamp_ltz", "varchar", "char", "array", "map", "struct", "void",
}  # fmt: skip
DATETIME_LITERALS = {"date", "timestamp", "timestamp_ntz", "timestamp_ltz"}
SQL_FORMS = {"cast", "try_cast", "if", "nvl", "nvl2", "ifnull", "nullif", "coalesce", "isnull", "isnotnull"}
# Functions of pyspark.sql.functions that are no SQL a reply needs, or that reach outside the rows.
NOT_SQL = {
    "expr", "col", "column", "lit", "broadcast", "udf", "udtf", "pandas_udf", "arrow_udf", "call_function",
    "call_udf", "reflect", "java_method", "try_reflect", "uniform", "randstr", "aes_encrypt", "aes_decrypt",
    "try_aes_decrypt", "session_window", "window", "window_time", "input_file_name", "input_file_block_start",
    "input_file_block_length", "raise_error", "assert_true", "sample", "bitmap_construct_agg",
}  # fmt: skip

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>--|/\*)
    |(?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    |(?P<quoted>`(?:[^`]|``)*`)
    |(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[a-zA-Z]{0,2}|\.\d+(?:[eE][+-]?\d+)?)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=>|==|!=|<>|<=|>=|->|\|\||::|[-+*/%<>=(),.\[\]!&|^~])""",
    re.X,
)


@functools.cache
def sql_functions() -> frozenset[str]:
    """The functions SQL strings may call: what the Python subset allows of pyspark.sql.functions."""
    from pyspark.sql import functions

    from scaffolder.safe_subset import DENIED_ATTRIBUTES, NONDETERMINISTIC

    names = {name.lower() for name in dir(functions) if not name.startswith("_") and callable(getattr(functions, name))}
    denied = {name.lower() for name in (*DENIED_ATTRIBUTES, *NONDETERMINISTIC, *NOT_SQL, *NILADIC)}
    return frozenset((names - denied) | SQL_FORMS)


def special_datetime(text: str) -> bool:
    """A string Spark reads as the current date or time when a constant is cast."""
    return bool(SPECIAL_DATETIME.match(text))


def sql_problem(sql: str, names: Iterable[str]) -> str | None:
    """The first thing in `sql` outside the allowlist, as a short phrase; None when it is inside.

    `names`: the bare words allowed as column names (case-insensitive).
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None:
            return f"the character {sql[position]!r}, which SQL expressions here do not use"
        kind = match.lastgroup or ""
        if kind == "comment":
            return "a comment in SQL"
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    allowed = {n.lower() for n in names} - NILADIC
    allowed |= _lambda_parameters(tokens) | _aliases(tokens)
    functions_ = sql_functions()
    for i, (kind, text) in enumerate(tokens):
        before = tokens[i - 1] if i else ("", "")
        after = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        word = text.lower()
        if kind == "string":
            if special_datetime(text[1:-1]):
                return f"the string {text}, which Spark reads as the current date or time"
            if before[0] == "word" and before[1].lower() not in KEYWORDS | DATETIME_LITERALS | {"interval"}:
                return f"the typed literal {before[1]}{text}"
            if (
                before[0] == "word"
                and before[1].lower() in DATETIME_LITERALS
                and not re.match(r"^\s*[+-]?\d", text[1:-1])
            ):
                return f"the literal {before[1]}{text}, which is not a date"
        elif kind == "quoted":
            if after == ("op", "("):
                return f"a quoted function name {text}"
        elif kind == "word":
            if after == ("op", "("):
                if before == ("op", "."):
                    return f"a qualified function name (.{text}), which SQL here may not call"
                if word in KEYWORDS or (word in TYPES and word not in functions_):
                    continue  # `IN (...)`, `AND (...)`, `decimal(10, 2)`
                if word not in functions_:
                    return f"a call to {text}(), which SQL here may not call"
            elif before == ("op", "."):
                continue  # a field of a struct: `address.city`
            elif word in NILADIC:
                return f"{text}, which Spark reads as who runs the query or when"
            elif not (word in KEYWORDS or word in TYPES or word in allowed):
                return f"the word {text}, which is neither a column of the table nor SQL an expression needs"
    return None


def _lambda_parameters(tokens: list[tuple[str, str]]) -> set[str]:
    """`x -> ...` and `(acc, x) -> ...`: the parameters a higher-order function's lambda binds."""
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if token != ("op", "->") or not i:
            continue
        if tokens[i - 1][0] == "word":
            found.add(tokens[i - 1][1].lower())
        elif tokens[i - 1] == ("op", ")"):
            j = i - 2
            while j >= 0 and tokens[j] != ("op", "("):
                if tokens[j][0] == "word":
                    found.add(tokens[j][1].lower())
                j -= 1
    return found - NILADIC


def _aliases(tokens: list[tuple[str, str]]) -> set[str]:
    """`... AS name`: the names an expression gives its results."""
    return {
        tokens[i + 1][1].lower()
        for i, token in enumerate(tokens[:-1])
        if token[0] == "word" and token[1].lower() == "as" and tokens[i + 1][0] == "word"
    } - NILADIC
