"""Read a model's reply: whole files as fenced code blocks, each preceded by the file's path.

Tolerant of what models do (prose around the code, ```python / ```py / bare fences, a missing
closing fence, CRLF line ends, the path in backticks or bold), strict about what it accepts:
only the table's module and test file, never a path outside them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

MAX_REPLY_CHARS = 200_000
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)\s*$")
_PATH = re.compile(r"([A-Za-z0-9_./\\-]+\.py)\b")


class ReplyError(ValueError):
    """The reply cannot be used; the message is the reason shown to the user and the model."""


@dataclass(frozen=True)
class ParsedReply:
    files: dict[str, str]


def parse_reply(text: str | None, allowed: Collection[str], finish_reason: str | None = None) -> ParsedReply:
    """The files of the reply, keyed by path; ReplyError names what is wrong."""
    if finish_reason == "length":
        raise ReplyError("the reply was cut off by the length limit (finish_reason=length): ask for shorter code")
    if text is None or not text.strip():
        raise ReplyError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ReplyError(f"the reply is {len(text):,} characters, over the {MAX_REPLY_CHARS:,} limit")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    files: dict[str, str] = {}
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        language = opening.group(2).lower()
        path = _path_before(lines, index)
        body, index = _block(lines, index + 1, opening.group(1))
        if language not in ("", "python", "py", "python3"):
            continue  # shell snippets and the like are not files
        if path is None:
            raise ReplyError("a code block has no file path before it: put the path on the line above each block")
        path = _check_path(path, allowed)
        files[path] = body.rstrip("\n") + "\n"
    if not files:
        raise ReplyError("the reply has no code blocks: answer with the files as fenced code blocks")
    return ParsedReply(files)


def _path_before(lines: list[str], fence_index: int) -> str | None:
    for back in range(fence_index - 1, max(-1, fence_index - 4), -1):
        line = lines[back].strip()
        if not line:
            continue
        match = _PATH.search(line.strip("`*#: "))
        return match.group(1).replace("\\", "/") if match else None
    return None


def _block(lines: list[str], start: int, fence: str) -> tuple[str, int]:
    body: list[str] = []
    index = start
    while index < len(lines):
        if lines[index].strip().startswith(fence[:3]) and lines[index].strip().strip(fence[0]) == "":
            return "\n".join(body), index + 1
        body.append(lines[index])
        index += 1
    return "\n".join(body), index  # a missing closing fence: the block runs to the end


def _check_path(path: str, allowed: Collection[str]) -> str:
    normalized = path.lstrip("./") if path.startswith("./") else path
    if ".." in normalized.split("/") or normalized.startswith("/"):
        raise ReplyError(f"path {path!r} leaves the repository: only {', '.join(sorted(allowed))} may be written")
    if normalized not in allowed:
        raise ReplyError(f"path {path!r} is not one of the files for this table: {', '.join(sorted(allowed))}")
    return normalized
