"""A bad answer stops `copier copy` with a message naming the question, and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import copier
import pytest

from .conftest import base_answers

BAD_ANSWERS: list[tuple[str, Any, str]] = [
    ("project_name", "my-proj", "'my_proj'"),
    ("project_name", "my proj", "lowercase letters"),
    ("project_name", "1pipeline", "starting with a letter"),
    ("project_name", "class", "Python keyword"),
    ("project_name", "", "required"),
    ("project_name", "CustomerPipeline", "lowercase letters"),
    ("project_name", "x" * 41, "keep it to 40"),
    ("catalog", "dev-analytics", "not a valid Unity Catalog name"),
    ("catalog", "dev_analytics", "environment prefix"),
    ("catalog", "", "not a valid Unity Catalog name"),
    ("dev_host", "http://dbc-1.cloud.databricks.com", "https://"),
    ("dev_host", "dbc-1.cloud.databricks.com", "https://"),
    ("dev_host", "https://", "not a workspace URL"),
    ("prod_host", "https://dbc-2.cloud.databricks.com/some/path", "no path"),
    ("lab_host", "https://bad host.databricks.com", "not a workspace URL"),
    ("orchestration", "airflow", ""),
    ("compute", "gpu", ""),
    ("ci_provider", "jenkins", ""),
    ("cloud", "oracle", ""),
    ("python_version", "2.7", "is not supported"),
    ("python_version", "3.13", "is not supported"),
    ("ci_auth", "password", ""),
    ("environments", ["dev", "prod"], "must include local"),
    ("environments", ["local", "prod"], "must include dev"),
    ("owner", "data team", "not an email address"),
    ("description", "   ", "required"),
    ("run_as", "not-a-uuid", "service principal application ID"),
    ("readers_group", "", "required"),
    ("bi_group", 'bi"analysts', "characters a group name cannot have"),
    ("ai_model", "gpt 4", "not a model name"),
    ("lakeforge_index", "http://pkgs.example.com/simple", "is not an https URL"),
    ("lakeforge_index", "https://user:token@pkgs.example.com/simple", "must not carry credentials"),
]


@pytest.mark.parametrize(
    ("question", "value", "fragment"),
    BAD_ANSWERS,
    ids=[f"{q}={v!r}"[:60] for q, v, _ in BAD_ANSWERS],
)
def test_bad_answer_is_rejected_and_nothing_is_written(
    template_repo: Path, tmp_path: Path, question: str, value: Any, fragment: str
) -> None:
    destination = tmp_path / "new-repo"
    with pytest.raises(ValueError) as err:
        copier.run_copy(
            str(template_repo),
            destination,
            data=base_answers(**{question: value}),
            defaults=True,
            unsafe=True,
            quiet=True,
            vcs_ref="HEAD",
        )
    message = str(err.value)
    # copier names the question: "Validation error for question 'x'" or "Invalid choice for 'x'"
    assert f"question '{question}'" in message or f"Invalid choice for '{question}'" in message
    assert fragment in message
    assert "\n" not in message.strip()
    assert not destination.exists() or not any(destination.iterdir())


def test_good_answers_pass_the_same_validators(template_repo: Path, tmp_path: Path) -> None:
    """The control: the defaults plus every valid shape of the free-text answers render."""
    answers = {
        "project_name": "p2",
        "dev_host": "https://adb-1234567890123456.7.azuredatabricks.net/",
        "run_as": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "readers_group": "account users",
        "ai_model": "databricks-meta-llama-3-3-70b-instruct",
        "lakeforge_index": "https://pkgs.example.com/api/pypi/simple",
    }
    copier.run_copy(
        str(template_repo), tmp_path / "ok", data=base_answers(**answers), defaults=True, unsafe=True, quiet=True
    )
    assert (tmp_path / "ok" / "databricks.yml").is_file()
