"""Providers against loopback servers, through the real `openai` client (and the real databricks-sdk).

Nothing is patched inside the clients: what a test asserts is what went over HTTP.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.core import Config

from lakeforge.tables import parse_tables
from scaffolder.project import ScaffoldError, ScaffoldSettings, load_project
from scaffolder.providers import Completion, Provider, ProviderError, Request, resolve_provider

from .conftest import bronze_table
from .llm_server import Action, LoopbackEndpoint, Reply, ScriptedLLM, Seen, chat_completion

TABLES = parse_tables({"version": 1, "tables": [bronze_table("orders")]})
PROVIDER_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")
PROVIDER_VARS += ("OLLAMA_HOST", "OLLAMA_BASE_URL", "SCAFFOLD_MODEL", "SCAFFOLD_PROVIDER")


def ask(provider: Provider) -> Completion:
    messages = [{"role": "system", "content": "You write PySpark."}, {"role": "user", "content": "name: orders"}]
    return provider.complete(Request(messages, TABLES.get("orders"), TABLES, "shop"))


def openai_env(llm: ScriptedLLM) -> dict[str, str]:
    return {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-loopback"}


def failure(provider: Provider) -> str:
    with pytest.raises(ProviderError) as caught:
        ask(provider)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.fixture
def databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A process environment with no provider configured and no ~/.databrickscfg: the test sets
    the DATABRICKS_* variables it means (databricks-sdk reads the process environment)."""
    for attribute in Config.attributes():
        for var in (attribute.env, *attribute.env_aliases):
            if var:
                monkeypatch.delenv(var, raising=False)
    for var in PROVIDER_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no.databrickscfg"))
    yield monkeypatch


class Workspace:
    """A Databricks workspace on loopback: host metadata, OIDC discovery, an OAuth token endpoint
    whose tokens live `lifetime` seconds, and a serving endpoint that rejects expired tokens."""

    def __init__(self, lifetime: float = 1.0, static_token: str | None = None) -> None:
        self.lifetime = lifetime
        self.static_token = static_token
        self.issued: dict[str, float] = {}
        self.revoked = False  # the service principal's secret was rotated: no new tokens
        self._numbers = itertools.count(1)
        self.endpoint = LoopbackEndpoint(self.route)

    def __enter__(self) -> Workspace:
        self.endpoint.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.endpoint.__exit__(*exc)

    @property
    def host(self) -> str:
        return self.endpoint.url

    def chats(self) -> list[Seen]:
        return self.endpoint.to("/serving-endpoints/")

    def route(self, seen: Seen) -> Reply:
        if seen.path == "/.well-known/databricks-config":
            return Reply(body={"oidc_endpoint": f"{self.host}/oidc", "workspace_id": "42"})
        if seen.path == "/oidc/.well-known/oauth-authorization-server":
            return Reply(
                body={
                    "authorization_endpoint": f"{self.host}/oidc/v1/authorize",
                    "token_endpoint": f"{self.host}/oidc/v1/token",
                }
            )
        if seen.path == "/oidc/v1/token":
            if self.revoked:
                return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
            token = f"oauth-{next(self._numbers)}"
            self.issued[token] = time.monotonic()
            return Reply(body={"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime})
        if seen.path == "/serving-endpoints/chat/completions":
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            fresh = token == self.static_token or time.monotonic() - self.issued.get(token, -1e9) < self.lifetime
            if not fresh:
                return Reply(401, {"error_code": "UNAUTHENTICATED", "message": f"Token {token} is expired or unknown"})
            return Reply(body=chat_completion("ok", seen.body["model"]))
        return Reply(404, {"error_code": "NOT_FOUND", "message": f"{seen.path} not found"})


# 1. Reasoning models --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1"])
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(model: str) -> None:
    with ScriptedLLM(lambda request: Action(content="ok")) as llm:
        provider, _ = resolve_provider(ScaffoldSettings(provider="openai", model=model), openai_env(llm))
        assert ask(provider).text == "ok"
    sent = llm.requests[0]
    assert sent["model"] == model and sent["max_completion_tokens"] == 4096
    assert "max_tokens" not in sent and "temperature" not in sent


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "gpt-4.1", "llama3.1", "qwen2.5-coder:32b", "databricks-meta-llama-3-3-70b-instruct"]
)
def test_other_models_keep_max_tokens_and_temperature(model: str) -> None:
    with ScriptedLLM(lambda request: Action(content="ok")) as llm:
        provider, _ = resolve_provider(ScaffoldSettings(provider="openai", model=model), openai_env(llm))
        ask(provider)
    sent = llm.requests[0]
    assert sent["max_tokens"] == 4096 and sent["temperature"] == 0.2 and "max_completion_tokens" not in sent


# 2. Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "wrong"),
    [
        (404, "model 'gpt-4.1' not found at {url}/ (scripted 404): pass --model or fix OPENAI_BASE_URL", "retries"),
        (401, "HTTP 401: OPENAI_API_KEY was rejected (scripted 401); set a valid OPENAI_API_KEY", "retries"),
        (403, "HTTP 403: OPENAI_API_KEY was rejected (scripted 403); set a valid OPENAI_API_KEY", "retries"),
        (400, "HTTP 400: the server said: scripted 400;", "try again later"),
    ],
)
def test_rejections_are_not_retried_and_name_the_cause(status: int, expected: str, wrong: str) -> None:
    with ScriptedLLM(lambda request: Action(status=status)) as llm:
        provider, _ = resolve_provider(ScaffoldSettings(provider="openai", max_retries=2), openai_env(llm))
        message = failure(provider)
    assert len(llm.requests) == 1
    assert message.startswith("openai")
    assert expected.format(url=llm.base_url) in message and wrong not in message


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_rejections_are_not_retried_even_when_a_gateway_says_retry(status: int) -> None:
    def route(seen: Seen) -> Reply:
        body = {"error_code": "REJECTED", "message": f"gateway says {status}"}
        return Reply(status, body, {"x-should-retry": "true"})

    with LoopbackEndpoint(route) as gateway:
        env = {"OPENAI_BASE_URL": f"{gateway.url}/v1", "OPENAI_API_KEY": "sk-loopback"}
        provider, _ = resolve_provider(ScaffoldSettings(provider="openai", max_retries=2), env)
        message = failure(provider)
    assert len(gateway.seen) == 1, f"HTTP {status} was retried {len(gateway.seen) - 1} times"
    assert f"gateway says {status}" in message


def test_rate_limits_server_errors_and_timeouts_are_retried_then_reported() -> None:
    actions = {"429": Action(status=429), "500": Action(status=500), "slow": Action(content="late", delay=1.5)}
    expected = {
        "429": "HTTP 429 rate limited after 2 retries; wait, or lower --jobs",
        "500": "HTTP 500 after 2 retries; try again later",
        "slow": "timed out after 2 retries",
    }
    for case, action in actions.items():
        with ScriptedLLM(lambda request, action=action: action) as llm:
            settings = ScaffoldSettings(provider="openai", max_retries=2, request_timeout_seconds=0.5)
            provider, _ = resolve_provider(settings, openai_env(llm))
            message = failure(provider)
        assert len(llm.requests) == 3, f"{case}: expected 1 call + 2 retries, got {len(llm.requests)}"
        assert expected[case] in message, message


# 3. Databricks authenticates every request ----------------------------------------------------


def service_principal_provider(workspace: Workspace, env: pytest.MonkeyPatch) -> Provider:
    """The databricks provider as a service principal (OAuth M2M) of the loopback workspace."""
    env.setenv("DATABRICKS_HOST", workspace.host)
    env.setenv("DATABRICKS_CLIENT_ID", "scaffold-sp")
    env.setenv("DATABRICKS_CLIENT_SECRET", "sp-secret")
    settings = ScaffoldSettings(provider="databricks", model="my-endpoint", max_retries=0)
    provider, _ = resolve_provider(settings, os.environ)
    return provider


def test_databricks_oauth_tokens_are_refreshed_during_a_long_fill(databricks_env: pytest.MonkeyPatch) -> None:
    with Workspace(lifetime=1.0) as workspace:
        provider = service_principal_provider(workspace, databricks_env)
        assert ask(provider).text == "ok"
        time.sleep(1.2)  # the token the first request used has expired
        assert ask(provider).text == "ok"
        chats = workspace.chats()
    tokens = [chat.headers["authorization"].removeprefix("Bearer ") for chat in chats]
    assert len(tokens) == 2 and tokens[0] != tokens[1], tokens
    assert all(token in workspace.issued for token in tokens)
    assert all(chat.path == "/serving-endpoints/chat/completions" for chat in chats)


def test_databricks_credentials_that_cannot_be_refreshed_give_one_line(databricks_env: pytest.MonkeyPatch) -> None:
    with Workspace(lifetime=1.0) as workspace:
        provider = service_principal_provider(workspace, databricks_env)
        ask(provider)
        workspace.revoked = True
        time.sleep(1.2)
        message = failure(provider)
    assert message.startswith(f"databricks ({workspace.host}): the credentials could not be refreshed (")
    assert message.endswith("run `databricks auth login` or check DATABRICKS_HOST / DATABRICKS_TOKEN")
    assert len(workspace.chats()) == 1


def test_databricks_sends_the_token_not_a_placeholder(databricks_env: pytest.MonkeyPatch) -> None:
    with Workspace(static_token="dapi-loopback") as workspace:
        databricks_env.setenv("DATABRICKS_HOST", workspace.host)
        databricks_env.setenv("DATABRICKS_TOKEN", "dapi-loopback")
        provider, _ = resolve_provider(ScaffoldSettings(provider="databricks", model="my-endpoint"), os.environ)
        ask(provider)
        ask(provider)
    assert [chat.headers["authorization"] for chat in workspace.chats()] == ["Bearer dapi-loopback"] * 2


# 4. Each provider has its own default model ---------------------------------------------------


def test_auto_picks_databricks_with_a_databricks_model(databricks_env: pytest.MonkeyPatch) -> None:
    with Workspace(static_token="dapi-loopback") as workspace:
        databricks_env.setenv("DATABRICKS_HOST", workspace.host)
        databricks_env.setenv("DATABRICKS_TOKEN", "dapi-loopback")
        provider, announcement = resolve_provider(ScaffoldSettings(), os.environ)
        ask(provider)
        [chat] = workspace.chats()
    assert provider.name == "databricks" and provider.model == "databricks-meta-llama-3-3-70b-instruct"
    assert chat.body["model"] == "databricks-meta-llama-3-3-70b-instruct"
    assert announcement.startswith("auto: using databricks (the first configured provider)")
    default = "model databricks-meta-llama-3-3-70b-instruct (the databricks default; --model to change)"
    assert f"{default} at {workspace.host}/serving-endpoints/" in announcement


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4.1"), ("ollama", "qwen2.5-coder:32b")])
def test_openai_and_ollama_have_their_own_default_models(provider: str, model: str) -> None:
    with ScriptedLLM(lambda request: Action(content="ok")) as llm:
        env = openai_env(llm) if provider == "openai" else {"OLLAMA_BASE_URL": llm.base_url}
        chosen, announcement = resolve_provider(ScaffoldSettings(), env)
        ask(chosen)
    assert chosen.name == provider and llm.requests[0]["model"] == model
    assert announcement == f"auto: using {provider} (the first configured provider), model {model} " + (
        f"(the {provider} default; --model to change) at {llm.base_url}/"
    )


def test_azure_needs_the_deployment_name() -> None:
    def route(seen: Seen) -> Reply:
        return Reply(body=chat_completion("ok"))

    with LoopbackEndpoint(route) as azure:
        env = {"AZURE_OPENAI_ENDPOINT": azure.url, "AZURE_OPENAI_API_KEY": "azure-key"}
        with pytest.raises(ScaffoldError) as caught:
            resolve_provider(ScaffoldSettings(), env)
        provider, announcement = resolve_provider(ScaffoldSettings(model="team-gpt4o"), env)
        ask(provider)
    assert str(caught.value) == (
        "provider azure needs the deployment name: pass --model, or set [tool.scaffold] model or SCAFFOLD_MODEL"
    )
    assert azure.seen[0].path.startswith("/openai/deployments/team-gpt4o/chat/completions")
    assert "model team-gpt4o at" in announcement and "default" not in announcement


def test_an_explicit_model_wins_over_the_provider_default(tmp_path: Path) -> None:
    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "tables.yml").write_text("version: 1\ntables: []\n")
    pyproject = '[project]\nname = "shop"\n\n[tool.scaffold]\nprovider = "ollama"\n'
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with ScriptedLLM(lambda request: Action(content="ok")) as llm:
        env = {"OLLAMA_BASE_URL": llm.base_url}
        for extra, overrides, expected in [
            ("", {}, "qwen2.5-coder:32b"),
            ('model = "qwen2.5-coder"\n', {}, "qwen2.5-coder"),
            ('model = "qwen2.5-coder"\n', {"SCAFFOLD_MODEL": "mistral"}, "mistral"),
        ]:
            (tmp_path / "pyproject.toml").write_text(pyproject + extra)
            settings = load_project(tmp_path, environ={**env, **overrides}).settings
            provider, _ = resolve_provider(settings, env)
            ask(provider)
            assert llm.requests[-1]["model"] == expected
        flagged = load_project(tmp_path, {"model": "phi4"}, environ={"SCAFFOLD_MODEL": "mistral"}).settings
        assert flagged.model == "phi4"
