"""Scrub secrets from whatever goes back to the model or into the audit log.

A failing test's message is repair feedback, and repair feedback is sent to a model provider.
If model-written code managed to read a token (the sandbox should stop it; `--no-sandbox` does
not), the token must still never leave the machine. Two nets: the values of the parent
process's secret-looking variables and credential files, removed wherever they appear, and the
shapes tokens have (Databricks `dapi…`, OpenAI `sk-…`, GitHub `ghp_…`/`github_pat_…`, AWS
`AKIA…`, JWTs, `token = …` / `password=…` lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scaffolder.sanitize import Sanitizer

MASK = "[redacted]"
# Variable names whose values are secrets: *TOKEN*, *SECRET*, *PASSWORD*, and _KEY / _PAT / … words.
SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD)|(^|_)(KEY|APIKEY|PAT|PASS|SAS|CREDENTIALS?|CONNECTION_STRING)(_|$)", re.I
)
SHAPES = [
    re.compile(r"dapi[0-9a-f]{32}(-\d+)?", re.I),  # Databricks personal access token
    re.compile(r"dose[0-9a-f]{32}", re.I),  # Databricks OAuth secret
    re.compile(r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic keys
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"glpat-[A-Za-z0-9_-]{20,}"),  # GitLab
    re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"xox[abpors]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
    # `token = x`, `password: x`, `"api_key": "x"`, `client_secret=x` (ini, yaml, json, env, URLs)
    re.compile(
        r"""(?ix)
        ((?:token|secret|password|passwd|pwd|api[_-]?key|access[_-]?key|client[_-]?secret|authorization)
         ["']?\s*[:=]\s*["']?)
        (?:bearer\s+)?[^\s"',;&]{4,}"""
    ),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]{8,}=*"),
    re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+(?=@)"),  # user:password@host
]
CREDENTIAL_FILES = (".databrickscfg", ".netrc", ".git-credentials", ".pgpass", ".pypirc")
_MIN_SECRET = 6


class Redactor:
    """Removes known secret values and token shapes from text and from nested records."""

    def __init__(self, secrets: Iterable[str] = (), sanitizer: Sanitizer | None = None) -> None:
        values = {s.strip() for s in secrets if s and len(s.strip()) >= _MIN_SECRET}
        # Longest first, so a token is removed whole before any shorter value inside it.
        self.secrets = sorted(values, key=len, reverse=True)
        self.sanitizer = sanitizer or Sanitizer()

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], home: Path | None = None, repo: Path | None = None
    ) -> Redactor:
        """Secrets of this machine (secret-looking variables, credential files' values) and its identity
        (the repo's path, the host name, the machine id): all kept out of what leaves scaffold."""
        secrets = [value for name, value in environ.items() if SECRET_NAME.search(name)]
        home = home if home is not None else Path(environ.get("HOME") or Path.home())
        for name in CREDENTIAL_FILES:
            secrets += _credential_values(home / name)
        return cls(secrets, Sanitizer.for_machine(repo))

    def text(self, value: str) -> str:
        """The one way text from model code, its tests or its runs leaves scaffold: to the model, the
        audit log or the terminal. Control characters and escapes go, the machine's identity, then secrets."""
        value = self.sanitizer.text(value)
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        for shape in SHAPES:
            value = shape.sub(lambda m: (m.group(1) if m.lastindex and m.group(1) else "") + MASK, value)
        return value

    def record(self, value: Any) -> Any:
        """The same value with every string inside it redacted (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.record(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.record(v) for v in value)
        return value


def _credential_values(path: Path) -> list[str]:
    """Values of `key = value` / `password x` entries in an ini, netrc or URL-list file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        if "=" in line:
            values.append(line.split("=", 1)[1].strip())
        tokens = line.split()
        values += [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in ("password", "login", "account")]
        if match := re.search(r"://[^:/\s]+:([^@\s]+)@", line):
            values.append(match.group(1))
    return values
