"""Model providers, all through the `openai` SDK, plus the offline generator.

OpenAI, Azure OpenAI, Databricks Model Serving (OpenAI-compatible `/serving-endpoints`, with
databricks-sdk's unified auth, asked on every request) and Ollama/vLLM (OpenAI-compatible base
URL). Retries on 429, 5xx, timeouts and dropped connections are the SDK's own, bounded by
`max_retries`; a rejected key, an unknown model or a bad request (400/401/403/404) fails the same
way every time and is never retried. What survives becomes one ProviderError line naming the
provider, the cause and the fix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import openai

from lakeforge.tables import TablesFile, TableSpec
from scaffolder.errors import ProviderName, ScaffoldError, first_line
from scaffolder.offline import OfflineUnsupported, offline_reply
from scaffolder.project import ScaffoldSettings

if TYPE_CHECKING:
    import httpx2  # openai's HTTP library (httpx before openai 3)
    from databricks.sdk.core import Config

# The model each provider uses when none is set (--model, [tool.scaffold] model, SCAFFOLD_MODEL):
# an OpenAI name means nothing to a Databricks workspace or an Ollama server. Chosen from published
# coding results (aider's polyglot leaderboard; the README's "Measuring fill quality" cites them):
# - OpenAI: gpt-4.1, the best non-reasoning OpenAI model there (52.4%; gpt-4o-mini 3.6%), so it
#   keeps today's max_tokens/temperature request; reasoning models (gpt-5: 81-88%) are one --model away.
# - Databricks: the one pay-per-token chat endpoint Databricks serves in every supported region
#   (its docs); stronger endpoints (databricks-gpt-oss-120b, Claude) exist in some regions only.
# - Ollama: Qwen2.5-Coder 32B (16.4%, about 20 GB), the strongest non-thinking model there that
#   runs on one workstation GPU; llama3.1 (8B) has no result and writes far worse code.
# Azure has none: its "model" is the deployment the user created.
DEFAULT_MODELS = {
    "openai": "gpt-4.1",
    "databricks": "databricks-meta-llama-3-3-70b-instruct",
    "ollama": "qwen2.5-coder:32b",
}

# OpenAI's reasoning models (the o-series, the gpt-5 family) reject `max_tokens` and `temperature`.
_REASONING_MODEL = re.compile(r"(o[1-9]\d*|gpt-5)([-.:].*)?", re.IGNORECASE)

# The same request gets the same answer: retrying only spends time (and quota).
_NEVER_RETRIED = frozenset({400, 401, 403, 404})
# What the SDK retries (besides timeouts and dropped connections); see openai's _should_retry.
_RETRIED = frozenset({408, 409, 429})


class ProviderError(ScaffoldError):
    """The provider failed: after its retries, or at once when asking again cannot help."""


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]
    spec: TableSpec
    tables: TablesFile
    package: str


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    latency: float


@dataclass(frozen=True)
class Hints:
    """What to tell the user per provider: which credential was rejected and how to fix things."""

    fix: str  # the general fix (connection, timeouts)
    key: str  # what a 401/403 rejected
    key_fix: str
    url_fix: str  # for a 404: where the model name or the URL comes from


class Provider(Protocol):
    name: str
    model: str

    def complete(self, request: Request) -> Completion: ...


class OfflineProvider:
    name = "offline"
    model = "tables.yml-rules"

    def complete(self, request: Request) -> Completion:
        start = time.perf_counter()
        try:
            text = offline_reply(request.spec, request.tables, request.package)
        except OfflineUnsupported as exc:  # the same question gets the same answer: do not ask again
            raise ProviderError(
                f"the offline generator cannot write {request.spec.name}: {exc}; configure a model provider "
                "(OPENAI_API_KEY, DATABRICKS_HOST, ...) or add the hints to tables.yml"
            ) from None
        return Completion(text, 0, 0, "stop", time.perf_counter() - start)


def is_reasoning_model(model: str) -> bool:
    """True for OpenAI's o-series and gpt-5 family (also as `vendor/o3` or a fine-tune `ft:o4-mini:...`)."""
    name = model.rsplit("/", 1)[-1].removeprefix("ft:")
    return _REASONING_MODEL.fullmatch(name) is not None


class OpenAICompatibleProvider:
    """Any chat-completions endpoint: OpenAI, Azure, Databricks serving, Ollama, vLLM."""

    def __init__(self, name: str, client: openai.OpenAI, model: str, max_tokens: int, hints: Hints) -> None:
        self.name = name
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.hints = hints

    def _limits(self) -> dict[str, Any]:
        """Reasoning models take `max_completion_tokens` and only their own temperature."""
        if is_reasoning_model(self.model):
            return {"max_completion_tokens": self.max_tokens}
        return {"max_tokens": self.max_tokens, "temperature": 0.2}

    def complete(self, request: Request) -> Completion:
        start = time.perf_counter()
        where = f"{self.name} ({self.client.base_url})"
        retries = self.client.max_retries
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=request.messages,  # type: ignore[arg-type]
                **self._limits(),
            )
        except openai.APITimeoutError:
            raise ProviderError(f"{where}: timed out after {retries} retries; {self.hints.fix}") from None
        except openai.APIConnectionError as exc:
            raise ProviderError(
                f"{where}: connection failed after {retries} retries ({exc.__cause__ or exc}); {self.hints.fix}"
            ) from None
        except openai.APIStatusError as exc:
            raise ProviderError(self._status_error(where, exc)) from None
        if not response.choices:
            raise ProviderError(f"{where}: the response has no choices; check that {self.model!r} is a chat model")
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason,
            latency=time.perf_counter() - start,
        )

    def _status_error(self, where: str, exc: openai.APIStatusError) -> str:
        """One line naming the cause: only what the SDK retried was retried."""
        status, said, hints = exc.status_code, _server_message(exc), self.hints
        if status == 404:
            return (
                f"{self.name}: HTTP 404: model {self.model!r} not found at {self.client.base_url} ({said}): "
                f"pass --model or fix {hints.url_fix}"
            )
        if status in (401, 403):
            return f"{where}: HTTP {status}: {hints.key} was rejected ({said}); {hints.key_fix}"
        if status == 429:
            return f"{where}: HTTP 429 rate limited after {self.client.max_retries} retries; wait, or lower --jobs"
        if status in _RETRIED or status >= 500:
            return f"{where}: HTTP {status} after {self.client.max_retries} retries; try again later or {hints.fix}"
        return f"{where}: HTTP {status}: the server said: {said}; check --model, or {hints.fix}"


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own error message (OpenAI's `error.message`, Databricks' `message`), one line."""
    body = exc.body
    said = body.get("message") if isinstance(body, dict) else body
    text = " ".join(str(said or exc.message).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _never_retry_rejections(response: httpx2.Response) -> None:
    """The SDK obeys a server's `x-should-retry: true`, which a gateway may send on any error: a
    rejected key, an unknown model or a bad request would then be asked again for nothing."""
    if response.status_code in _NEVER_RETRIED:
        response.headers["x-should-retry"] = "false"


class DatabricksAuth:
    """Headers from databricks-sdk's unified auth on every request, retries included.

    OAuth tokens (`databricks auth login`, service principals) expire within the hour and a fill
    can last longer: `Config.authenticate()` returns the cached token, refreshed when it is due.
    A plain callable, so it works as `auth=` with the httpx of any openai version.
    """

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, request: httpx2.Request) -> httpx2.Request:
        try:
            headers = self.config.authenticate()
        except Exception as exc:
            raise ProviderError(
                f"databricks ({self.config.host}): the credentials could not be refreshed "
                f"({first_line(exc)}); run `databricks auth login` or check DATABRICKS_HOST / DATABRICKS_TOKEN"
            ) from None
        request.headers.update(headers)
        return request


def _http_client(auth: DatabricksAuth | None = None) -> httpx2.Client:
    """openai's own client defaults (timeouts, limits, redirects), plus the no-retry rule and auth."""
    return openai.DefaultHttpxClient(auth=auth, event_hooks={"response": [_never_retry_rejections]})


def resolve_provider(settings: ScaffoldSettings, environ: Mapping[str, str]) -> tuple[Provider, str]:
    """The provider to use and a sentence announcing it (auto picks the first configured one)."""
    name = settings.provider
    if name == "auto":
        name = _first_configured(environ)
        if name == "offline":
            return OfflineProvider(), (
                "No model provider is configured (OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, DATABRICKS_HOST, "
                "OLLAMA_HOST): using the offline generator, which writes code from the hints in tables.yml."
            )
        announcement = f"auto: using {name} (the first configured provider)"
    else:
        announcement = f"using {name}"
    if name == "offline":
        return OfflineProvider(), "using the offline generator (code from the hints in tables.yml)"
    model = settings.model or DEFAULT_MODELS.get(name)
    if not model:
        raise ScaffoldError(
            f"provider {name} needs the deployment name: pass --model, or set [tool.scaffold] model or SCAFFOLD_MODEL"
        )
    common: dict[str, Any] = {"timeout": settings.request_timeout_seconds, "max_retries": settings.max_retries}
    if name == "openai":
        if not environ.get("OPENAI_API_KEY") and not environ.get("OPENAI_BASE_URL"):
            raise ScaffoldError("provider openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)")
        client = openai.OpenAI(
            api_key=environ.get("OPENAI_API_KEY") or "not-needed",
            base_url=environ.get("OPENAI_BASE_URL") or None,
            http_client=_http_client(),
            **common,
        )
        hints = Hints(
            fix="check OPENAI_API_KEY / OPENAI_BASE_URL",
            key="OPENAI_API_KEY",
            key_fix="set a valid OPENAI_API_KEY (for a compatible server, the key it expects)",
            url_fix="OPENAI_BASE_URL",
        )
    elif name == "azure":
        endpoint, key = environ.get("AZURE_OPENAI_ENDPOINT"), environ.get("AZURE_OPENAI_API_KEY")
        if not endpoint or not key:
            raise ScaffoldError(
                "provider azure needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY; --model is the deployment"
            )
        client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            api_key=key,
            api_version=environ.get("OPENAI_API_VERSION", "2024-10-21"),
            http_client=_http_client(),
            **common,
        )
        hints = Hints(
            fix="check AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and the deployment name",
            key="AZURE_OPENAI_API_KEY",
            key_fix="set the key of the resource AZURE_OPENAI_ENDPOINT names",
            url_fix="AZURE_OPENAI_ENDPOINT (--model is the deployment name)",
        )
    elif name == "databricks":
        config = _databricks_config(environ)
        client = openai.OpenAI(
            api_key="from-databricks-sdk",  # replaced on every request by DatabricksAuth
            base_url=f"{config.host.rstrip('/')}/serving-endpoints",
            http_client=_http_client(DatabricksAuth(config)),
            **common,
        )
        hints = Hints(
            fix="check `databricks auth login` / DATABRICKS_HOST and that the serving endpoint exists",
            key="the Databricks credential",
            key_fix="run `databricks auth login` (or renew DATABRICKS_TOKEN) and check your access to the endpoint",
            url_fix="DATABRICKS_HOST (the serving endpoint must exist in that workspace)",
        )
    elif name == "ollama":
        base = (
            environ.get("OLLAMA_BASE_URL") or f"{environ.get('OLLAMA_HOST', 'http://127.0.0.1:11434').rstrip('/')}/v1"
        )
        client = openai.OpenAI(api_key="ollama", base_url=base, http_client=_http_client(), **common)
        hints = Hints(
            fix="start the server (`ollama serve`) and pull the model",
            key="the server's key",
            key_fix="check the key the server (or its proxy) expects",
            url_fix=f"OLLAMA_HOST, or run `ollama pull {model}`",
        )
    else:  # pragma: no cover - the settings model restricts the names
        raise ScaffoldError(f"unknown provider {name!r}")
    which = "" if settings.model else f" (the {name} default; --model to change)"
    return OpenAICompatibleProvider(name, client, model, settings.max_tokens, hints), (
        f"{announcement}, model {model}{which} at {client.base_url}"
    )


def _first_configured(environ: Mapping[str, str]) -> ProviderName:
    if environ.get("OPENAI_API_KEY") or environ.get("OPENAI_BASE_URL"):
        return "openai"
    if environ.get("AZURE_OPENAI_ENDPOINT") and environ.get("AZURE_OPENAI_API_KEY"):
        return "azure"
    if environ.get("DATABRICKS_HOST") or (Path.home() / ".databrickscfg").is_file():
        return "databricks"
    if environ.get("OLLAMA_HOST") or environ.get("OLLAMA_BASE_URL"):
        return "ollama"
    return "offline"


def _databricks_config(environ: Mapping[str, str]) -> Config:
    """databricks-sdk's unified auth (DATABRICKS_* variables or ~/.databrickscfg), checked once now
    so a missing login fails before any table is asked; DatabricksAuth asks it again per request."""
    try:
        from databricks.sdk.core import Config

        # The variables resolve_provider was given win over the process's own.
        given: dict[str, Any] = {a.name: environ[a.env] for a in Config.attributes() if a.env and environ.get(a.env)}
        config = Config(**given)
        headers = config.authenticate()
    except Exception as exc:
        raise ScaffoldError(
            f"provider databricks: no usable credentials ({first_line(exc)}); run `databricks auth login` "
            "or set DATABRICKS_HOST and DATABRICKS_TOKEN"
        ) from None
    if not config.host or not headers.get("Authorization"):
        raise ScaffoldError("provider databricks: no host or token; set DATABRICKS_HOST and DATABRICKS_TOKEN")
    return config
