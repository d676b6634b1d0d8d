"""One engine session per command: what `fill`, `test` and `validate` share, built once.

Each engine used to assemble the same parts itself (provider and its announcement, sandbox and
its note, redactor, audit log, reply cache, prompt builder, round settings, progress, the running
sandboxed Spark). A session builds them from the project once, lazily (`validate` never resolves
a provider), and gives every engine the two verbs it needs:

- `ask`: the model's reply to a prompt, as the files it may write, or the problems: cached by
  prompt hash, redacted before it leaves, audited, parsed; nothing from the reply runs here.
- `judge`: verdicts from the validation round, on the session's one sandboxed Spark server,
  started when the session opens so it boots while the model writes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any

from lakeforge.identifiers import LAYERS
from lakeforge.tables import TablesFile, TableSpec
from scaffolder import server_archive
from scaffolder.audit import AuditLog, ReplyCache
from scaffolder.errors import ScaffoldError
from scaffolder.problems import Problem, ProblemKind
from scaffolder.progress import Progress, quiet
from scaffolder.project import Project
from scaffolder.prompts import Prompt, PromptBuilder
from scaffolder.providers import Completion, Provider, ProviderError, Request, resolve_provider
from scaffolder.redact import Redactor
from scaffolder.replies import ReplyError, parse_reply
from scaffolder.sandbox import Sandbox, SandboxMode, SandboxUnavailable, resolve_sandbox
from scaffolder.validation import Candidate, RoundResult, RoundSettings, RoundSpark, run_round


def select_tables(tables: TablesFile, layer: str, names: Sequence[str] = ()) -> list[TableSpec]:
    """The tables a command works on: a layer (or all), narrowed to `names`; unknown names are an error."""
    if layer not in (*LAYERS, "all"):
        raise ScaffoldError(f"layer {layer!r} is unknown: use bronze, silver, gold or all")
    chosen = [t for t in tables.tables if layer == "all" or t.layer == layer]
    if names:
        known = {t.name for t in chosen}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ScaffoldError(
                f"--table {', '.join(unknown)}: not a {layer} table in tables.yml (known: {', '.join(sorted(known)) or 'none'})"
            )
        chosen = [t for t in chosen if t.name in names]
    return chosen


def choose_sandbox(setting: str, environ: Mapping[str, str], offline: bool = False) -> tuple[Sandbox, str]:
    """The sandbox for the round and a sentence for the summary and the audit log.

    Code from a model (or an agent, or a person's disk) never runs unconfined unless the user
    opted out; the offline generator's own code (written by this program from tables.yml) may,
    when no sandbox exists here.
    """
    try:
        sandbox = resolve_sandbox(setting, environ)
    except SandboxUnavailable as exc:
        if not offline:
            raise
        return Sandbox(), f"no sandbox: {exc.reason}; the offline generator's own code ran unconfined"
    if setting == "off":
        return sandbox, "sandbox OFF (opted out): model-written code ran with your user's rights"
    return sandbox, f"sandbox: {sandbox.describe()}"


@dataclass
class Answer:
    """What one `ask` got: the files the reply may write, or why not; its cost in tokens and time."""

    files: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cache_key: str = ""


class EngineSession:
    """The parts one command's engine works with, and `ask` / `judge` over them."""

    def __init__(
        self,
        project: Project,
        environ: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        dry_run: bool = False,
        asks_model: bool = True,
    ) -> None:
        self.project = project
        self.asks_model = asks_model
        self.settings = project.settings
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.notify: Progress = progress or quiet
        self.dry_run = dry_run
        self.round_settings = RoundSettings(self.settings.test_timeout_seconds, self.settings.timeout_seconds)
        self.spark: RoundSpark | None = None
        self.closed = False
        self._boot: threading.Thread | None = None  # writes the server archive; Spark starts after it

    # --- the parts, built when first needed ------------------------------------------------------

    @cached_property
    def tables(self) -> TablesFile:
        return self.project.tables()

    @cached_property
    def _provider(self) -> tuple[Provider, str]:
        return resolve_provider(self.settings, self.environ)

    @property
    def provider(self) -> Provider:
        return self._provider[0]

    @property
    def announcement(self) -> str:
        """Which provider was picked, and why (the offline generator says so)."""
        return self._provider[1]

    @cached_property
    def _sandbox(self) -> tuple[Sandbox, str]:
        if self.dry_run:
            return Sandbox(), "--dry-run: nothing from the reply runs"
        # Only the offline generator's own code may run unconfined where no sandbox exists.
        offline = self.asks_model and self.provider.name == "offline"
        return choose_sandbox(self.settings.sandbox, self.environ, offline=offline)

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox[0]

    @property
    def sandbox_note(self) -> str:
        return self._sandbox[1]

    @cached_property
    def redactor(self) -> Redactor:
        return Redactor.from_environment(self.environ, repo=self.project.root)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.project.root, self.redactor)

    @cached_property
    def cache(self) -> ReplyCache:
        return ReplyCache(self.project.root)

    @cached_property
    def prompts(self) -> PromptBuilder:
        return PromptBuilder(self.project.root, self.project.package, self.tables, self.settings.prompt_token_budget)

    # --- life ------------------------------------------------------------------------------------

    def start_spark(self) -> None:
        """Start the sandbox and its Spark server now: it boots while the model writes the first replies."""
        if self.spark is None and not self.dry_run:
            self.spark = RoundSpark(self.project.root, self.sandbox, self.environ)
            offline = self.asks_model and self.provider.name == "offline"
            if offline or server_archive.ready_archive() is not None:
                self.spark.start()
                return
            # Once per machine: every later round's server is ready ~4 s sooner. It is written
            # while the model writes the first replies; the offline generator (the demo) has no
            # model to wait for, so it does not pay it up front.
            self.notify("", "preparing Java once for this machine (~30 s, while the model writes)")
            self._boot = threading.Thread(target=server_archive.prepare_archive, name="scaffold-java-prep", daemon=True)
            self._boot.start()

    def _booted(self) -> None:
        """Start Spark once the archive is written.

        The start itself happens here, in the thread that judges, never in the preparing thread:
        bubblewrap's --die-with-parent follows the thread that started it, so a sandbox started
        by a thread that then ends is killed at once."""
        if self._boot is not None:
            self._boot.join()
            self._boot = None
            if self.spark is not None and not self.closed:
                self.spark.start()

    def round_ready(self) -> bool:
        """True once a round could start at once: the sandboxed Spark said it is ready (or failed).

        Called from the thread that judges: an archive written meanwhile starts Spark here, so
        the replies that come in after it need not wait for the last one."""
        if self._boot is not None and not self._boot.is_alive():
            self._booted()
        return self.spark is not None and self._boot is None and self.spark.ready_event.is_set()

    @property
    def isolation_note(self) -> str:
        """Said when the sandbox could not give each run its own namespaces (the kernel refused)."""
        ready = self.spark.ready_message if self.spark is not None else None
        asked = self.sandbox.mode is SandboxMode.BWRAP
        if ready is None or ready.private_workers or not asked:
            return ""
        return "runs were not isolated from each other (user namespaces refused inside bubblewrap: one /tmp, one PID space)"

    @property
    def jvm_starts(self) -> int:
        return self.spark.jvm_starts if self.spark is not None else 0

    def close(self) -> None:
        """Stop the sandbox and its Spark server (once; what they reported stays readable).

        A start still preparing the archive is waited for first: its JVM must not outlive us."""
        if self.spark is not None and not self.closed:
            self.closed = True
            self._booted()
            self.spark.close()

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # --- the verbs -------------------------------------------------------------------------------

    def ask(
        self, spec: TableSpec, prompt: Prompt, allowed: Collection[str], attempt: int, purpose: str = "fill"
    ) -> Answer:
        """The model's reply to `prompt` as files under `allowed`, or the problems; never raises for the model."""
        provider = self.provider
        answer = Answer(cache_key=self.cache.key(provider.name, provider.model, prompt.hash))
        cached = self.cache.get(answer.cache_key)
        call: dict[str, Any] = {
            "table": spec.name,
            "attempt": attempt,
            "stage": "model",
            "purpose": purpose,
            "provider": provider.name,
            "model": provider.model,
            "prompt_hash": prompt.hash,
            "prompt_tokens_estimate": prompt.tokens,
        }
        messages = [{**m, "content": self.redactor.text(m["content"])} for m in prompt.messages]
        try:
            if cached is not None:
                completion = Completion(cached["text"], 0, 0, cached.get("finish_reason"), 0.0)
            else:
                completion = provider.complete(Request(messages, spec, self.tables, self.project.package))
        except ProviderError as exc:
            self.audit.record(**call, error=str(exc))
            answer.problems.append(Problem(ProblemKind.PROVIDER, str(exc)))
            return answer
        answer.reply, answer.seconds = completion.text, completion.latency
        answer.prompt_tokens, answer.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        self.audit.record(
            **call,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency=round(completion.latency, 3),
            cached=cached is not None,
            finish_reason=completion.finish_reason,
            exemplars=prompt.exemplars,
        )
        try:
            parsed = parse_reply(completion.text, allowed, completion.finish_reason)
        except ReplyError as exc:
            answer.problems.append(Problem(ProblemKind.REPLY, str(exc)))
            return answer
        if cached is None:
            self.cache.put(answer.cache_key, {"text": completion.text, "finish_reason": completion.finish_reason})
        answer.files = dict(parsed.files)
        return answer

    def forget(self, answer: Answer) -> None:
        """A reply that failed its checks is not worth replaying from the cache."""
        if answer.cache_key:
            self.cache.drop(answer.cache_key)

    def judge(self, candidates: list[Candidate], progress: bool = True) -> RoundResult:
        """Verdicts for `candidates` from one validation round on this session's sandboxed Spark."""
        self.start_spark()
        self._booted()
        return run_round(
            self.project.root,
            self.project.package,
            candidates,
            self.round_settings,
            self.sandbox,
            self.environ,
            spark=self.spark,
            progress=self.notify if progress else None,
        )
