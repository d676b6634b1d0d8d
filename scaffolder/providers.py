"""Model providers, all through the `openai` SDK, plus the offline generator.

OpenAI, Azure OpenAI, Databricks Model Serving (OpenAI-compatible `/serving-endpoints`, with
databricks-sdk's unified auth) and Ollama/vLLM (OpenAI-compatible base URL). Retries on 429, 5xx,
timeouts and dropped connections are the SDK's own, bounded by `max_retries`; what survives them
becomes one ProviderError line naming the provider and the fix.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import openai

from lakeforge.tables import TablesFile, TableSpec
from scaffolder.offline import OfflineUnsupported, offline_reply
from scaffolder.project import ScaffoldError, ScaffoldSettings


class ProviderError(ScaffoldError):
    """The provider failed after its retries."""


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


class OpenAICompatibleProvider:
    """Any chat-completions endpoint: OpenAI, Azure, Databricks serving, Ollama, vLLM."""

    def __init__(self, name: str, client: openai.OpenAI, model: str, max_tokens: int, fix: str) -> None:
        self.name = name
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.fix = fix

    def complete(self, request: Request) -> Completion:
        start = time.perf_counter()
        where = f"{self.name} ({self.client.base_url})"
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=request.messages,  # type: ignore[arg-type]
                temperature=0.2,
                max_tokens=self.max_tokens,
            )
        except openai.APITimeoutError:
            raise ProviderError(f"{where}: timed out after {self.client.max_retries} retries; {self.fix}") from None
        except openai.APIConnectionError as exc:
            raise ProviderError(
                f"{where}: connection failed after {self.client.max_retries} retries ({exc.__cause__ or exc}); {self.fix}"
            ) from None
        except openai.RateLimitError:
            raise ProviderError(
                f"{where}: HTTP 429 rate limited after {self.client.max_retries} retries; wait, or lower --jobs"
            ) from None
        except openai.AuthenticationError:
            raise ProviderError(f"{where}: HTTP 401 credentials rejected; {self.fix}") from None
        except openai.NotFoundError:
            raise ProviderError(
                f"{where}: HTTP 404 model {self.model!r} not found; pass --model or fix the URL"
            ) from None
        except openai.APIStatusError as exc:
            raise ProviderError(
                f"{where}: HTTP {exc.status_code} after {self.client.max_retries} retries; try again later or {self.fix}"
            ) from None
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
    common = {"timeout": settings.request_timeout_seconds, "max_retries": settings.max_retries}
    if name == "openai":
        if not environ.get("OPENAI_API_KEY") and not environ.get("OPENAI_BASE_URL"):
            raise ScaffoldError("provider openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)")
        client = openai.OpenAI(
            api_key=environ.get("OPENAI_API_KEY") or "not-needed",
            base_url=environ.get("OPENAI_BASE_URL") or None,
            **common,
        )
        fix = "check OPENAI_API_KEY / OPENAI_BASE_URL"
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
            **common,
        )
        fix = "check AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and the deployment name"
    elif name == "databricks":
        host, token = _databricks_auth(environ)
        client = openai.OpenAI(api_key=token, base_url=f"{host.rstrip('/')}/serving-endpoints", **common)
        fix = "check `databricks auth login` / DATABRICKS_HOST and that the serving endpoint exists"
    elif name == "ollama":
        base = (
            environ.get("OLLAMA_BASE_URL") or f"{environ.get('OLLAMA_HOST', 'http://127.0.0.1:11434').rstrip('/')}/v1"
        )
        client = openai.OpenAI(api_key="ollama", base_url=base, **common)
        fix = "start the server (`ollama serve`) and pull the model"
    else:  # pragma: no cover - the settings model restricts the names
        raise ScaffoldError(f"unknown provider {name!r}")
    return OpenAICompatibleProvider(name, client, settings.model, settings.max_tokens, fix), (
        f"{announcement}, model {settings.model} at {client.base_url}"
    )


def _first_configured(environ: Mapping[str, str]) -> str:
    if environ.get("OPENAI_API_KEY") or environ.get("OPENAI_BASE_URL"):
        return "openai"
    if environ.get("AZURE_OPENAI_ENDPOINT") and environ.get("AZURE_OPENAI_API_KEY"):
        return "azure"
    if environ.get("DATABRICKS_HOST") or (Path.home() / ".databrickscfg").is_file():
        return "databricks"
    if environ.get("OLLAMA_HOST") or environ.get("OLLAMA_BASE_URL"):
        return "ollama"
    return "offline"


def _databricks_auth(environ: Mapping[str, str]) -> tuple[str, str]:
    """Host and bearer token from databricks-sdk's unified auth (env vars or ~/.databrickscfg)."""
    try:
        from databricks.sdk.core import Config

        config = Config(profile=environ.get("DATABRICKS_CONFIG_PROFILE"))
        headers = config.authenticate()
    except Exception as exc:
        raise ScaffoldError(
            f"provider databricks: no usable credentials ({str(exc).splitlines()[0]}); run `databricks auth login` "
            "or set DATABRICKS_HOST and DATABRICKS_TOKEN"
        ) from None
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    if not config.host or not token:
        raise ScaffoldError("provider databricks: no host or token; set DATABRICKS_HOST and DATABRICKS_TOKEN")
    return config.host, token
