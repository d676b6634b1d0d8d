"""The reply parser: tolerant of how models format files, strict about which files."""

import pytest

from scaffolder.replies import ReplyError, parse_reply

MODULE = "src/shop/transformations/bronze/orders.py"
TESTS = "tests/unit/bronze/test_orders.py"
ALLOWED = {MODULE, TESTS}


def test_prose_around_python_and_py_fences() -> None:
    reply = (
        f"Sure! Here it is.\n\n**{MODULE}**\n```python\nX = 1\n```\nAnd the tests:\n`{TESTS}`\n```py\nY = 2\n```\nDone."
    )
    assert parse_reply(reply, ALLOWED).files == {MODULE: "X = 1\n", TESTS: "Y = 2\n"}


def test_bare_fence_crlf_and_missing_closing_fence() -> None:
    reply = f"{MODULE}\r\n```\r\nX = 1\r\n```\r\n\r\n### {TESTS}\r\n```python\r\nY = 2\r\n"
    assert parse_reply(reply, ALLOWED).files == {MODULE: "X = 1\n", TESTS: "Y = 2\n"}


def test_shell_blocks_are_not_files() -> None:
    reply = f"Run:\n```bash\npytest\n```\n{MODULE}\n```python\nX = 1\n```\n"
    assert parse_reply(reply, ALLOWED).files == {MODULE: "X = 1\n"}


@pytest.mark.parametrize(
    ("reply", "finish", "reason"),
    [
        ("", None, "empty"),
        ("   \n", None, "empty"),
        ("No code today.", None, "no code blocks"),
        (f"../{MODULE}\n```python\nX = 1\n```", None, "leaves the repository"),
        ("/etc/passwd.py\n```python\nX = 1\n```", None, "leaves the repository"),
        ("src/shop/other.py\n```python\nX = 1\n```", None, "not one of the files"),
        ("```python\nX = 1\n```", None, "no file path"),
        (f"{MODULE}\n```python\nX = 1\n", "length", "cut off"),
        (f"{MODULE}\n```python\n" + "#" * 200_001 + "\n```", None, "over the"),
    ],
)
def test_refusals_name_the_reason(reply: str, finish: str | None, reason: str) -> None:
    with pytest.raises(ReplyError, match=reason):
        parse_reply(reply, ALLOWED, finish)
