"""`MonteCarloSync`: apply the monitors-as-code files `scaffold monitors` wrote (design research §7).

The files live in one Monte Carlo project per deployed environment, `monitors/<env>/`
(`montecarlo.yml` + `monitors.yaml`), because `montecarlo monitors apply` syncs a whole namespace:
monitors missing from the files are deleted, so dev's deploy must never apply prod's namespace.

This wraps Monte Carlo's own CLI (`pip install montecarlodata`) and makes no API call itself:

    montecarlo monitors apply --project-dir monitors/<env> --namespace <ns> [--dry-run | --auto-yes]

The CLI reads its credentials from `MCD_DEFAULT_API_ID` / `MCD_DEFAULT_API_TOKEN` (or the OAuth
pair, or `~/.mcd/profiles.ini` written by `montecarlo configure`); a missing CLI or missing
credentials is a one-line error that says how to fix it, before anything runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeforge.errors import LakeforgeError

MONITORS_DIR = "monitors"
PROJECT_FILE = "montecarlo.yml"
CLI = "montecarlo"
API_KEY_VARS = ("MCD_DEFAULT_API_ID", "MCD_DEFAULT_API_TOKEN")
OAUTH_VARS = ("MCD_DEFAULT_OAUTH_CLIENT_ID", "MCD_DEFAULT_OAUTH_CLIENT_SECRET")
PROFILE_FILE = Path(".mcd") / "profiles.ini"


class MonteCarloError(LakeforgeError):
    """The Monte Carlo CLI is missing, has no credentials, or refused the monitors."""


@dataclass(frozen=True)
class SyncResult:
    command: list[str]
    returncode: int
    output: str
    dry_run: bool


class MonteCarloSync:
    """Apply (or dry-run) one environment's monitors with the `montecarlo` CLI.

    `environ` stands in for `os.environ` (PATH, HOME and the credentials are read from it only).
    """

    def __init__(
        self,
        project_dir: str | os.PathLike[str],
        namespace: str | None = None,
        *,
        executable: str = CLI,
        environ: Mapping[str, str] | None = None,
        timeout: float = 900,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.environ = dict(os.environ if environ is None else environ)
        self.executable = executable
        self.timeout = timeout
        self.namespace = namespace or self._namespace_from_file()

    @classmethod
    def for_environment(cls, env: str, root: str | os.PathLike[str] = ".", **kwargs: Any) -> MonteCarloSync:
        """The project `scaffold monitors` wrote for `env`: `<root>/monitors/<env>/`."""
        return cls(Path(root) / MONITORS_DIR / env, **kwargs)

    def _namespace_from_file(self) -> str:
        path = self.project_dir / PROJECT_FILE
        if not path.is_file():
            raise MonteCarloError(
                f"{path}: not found; run `scaffold monitors` to write the monitors-as-code files first"
            )
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise MonteCarloError(f"{path}: not valid YAML ({exc}); run `scaffold monitors` to rewrite it") from None
        namespace = data.get("namespace") if isinstance(data, dict) else None
        if not isinstance(namespace, str) or not namespace:
            raise MonteCarloError(f"{path}: no namespace; run `scaffold monitors` to rewrite it, or pass namespace=")
        return namespace

    def command(self, dry_run: bool = False) -> list[str]:
        """The CLI call: a dry run only shows the plan; a real apply skips the interactive confirmation."""
        return [
            self.executable,
            "monitors",
            "apply",
            "--project-dir",
            str(self.project_dir),
            "--namespace",
            self.namespace,
            "--dry-run" if dry_run else "--auto-yes",
        ]

    def cli_path(self) -> str:
        """Where the `montecarlo` CLI is, or a MonteCarloError saying how to install it."""
        found = shutil.which(self.executable, path=self.environ.get("PATH", ""))
        if found is None:
            raise MonteCarloError(
                f"the Monte Carlo CLI ({self.executable!r}) is not on PATH: pip install montecarlodata "
                "(it is in the dev group of repos generated with monte_carlo), then run this again"
            )
        return found

    def has_credentials(self) -> bool:
        env = self.environ
        if all(env.get(var) for var in API_KEY_VARS) or all(env.get(var) for var in OAUTH_VARS):
            return True
        home = env.get("HOME")
        return home is not None and home != "" and (Path(home) / PROFILE_FILE).is_file()

    def check(self) -> None:
        """Raise a MonteCarloError before running anything when the CLI, the files or credentials are missing."""
        if not (self.project_dir / PROJECT_FILE).is_file():
            raise MonteCarloError(
                f"{self.project_dir / PROJECT_FILE}: not found; run `scaffold monitors` to write the files first"
            )
        self.cli_path()
        if not self.has_credentials():
            raise MonteCarloError(
                f"Monte Carlo credentials are missing: set {' and '.join(API_KEY_VARS)} (an API key from "
                "Monte Carlo's Settings > API keys; in CI, repository secrets or variables) or run `montecarlo configure`"
            )

    def apply(self, dry_run: bool = False) -> SyncResult:
        """Run `montecarlo monitors apply`; a MonteCarloError naming the command when it fails."""
        self.check()
        command = self.command(dry_run)
        try:
            run = subprocess.run(
                [self.cli_path(), *command[1:]],
                env=self.environ,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise MonteCarloError(
                f"{' '.join(command)} did not finish within {self.timeout:.0f}s: check the network to Monte Carlo"
            ) from None
        output = (run.stdout or "") + (run.stderr or "")
        if run.returncode != 0:
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            last = lines[-1] if lines else "no output"
            raise MonteCarloError(f"{' '.join(command)} failed (exit {run.returncode}): {last}")
        return SyncResult(command=command, returncode=run.returncode, output=output, dry_run=dry_run)

    def dry_run(self) -> SyncResult:
        """Show what `apply` would change, changing nothing (Monte Carlo still validates the files)."""
        return self.apply(dry_run=True)
