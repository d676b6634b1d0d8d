"""The sandbox's parts, each checked on its own: the bwrap command line, the Seatbelt profile, the
environment allowlist, the redactor, SCHEMA read from syntax, the lint policy's closed holes, and
`scaffold sandbox` proving the barrier on this machine.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from lakeforge.tables import TableSpec
from scaffolder.checks import check_module, check_policy
from scaffolder.redact import MASK, Redactor
from scaffolder.sandbox import (
    Bubblewrap,
    Layout,
    SandboxUnavailable,
    credential_paths,
    resolve_sandbox,
    sandbox_environment,
    seatbelt_profile,
)
from scaffolder.schema_ast import SchemaSyntaxError, find_schema, read_schema

from .conftest import scaffold

SPEC = TableSpec.model_validate(
    {
        "name": "orders",
        "layer": "silver",
        "description": "Orders.",
        "inputs": ["raw_orders"],
        "schema": [
            {"name": "order_id", "type": "string", "nullable": False},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "tags", "type": "array<string>"},
        ],
    }
)


def layout(tmp_path: Path) -> Layout:
    home = Path("/home/ada")
    return Layout(
        workdir=tmp_path / "round" / "repo",
        home=tmp_path / "round" / "home",
        writable=[tmp_path / "round" / "tmp"],
        readable=[home / ".pyenv", home / ".pyenv" / "lib", Path("/usr/lib/jvm"), tmp_path / "round" / "repo"],
        mounts=[(home / "pipeline" / "data", tmp_path / "round" / "repo" / "data")],
        hidden=[home, home / "pipeline"],
        credentials=[home / ".databrickscfg"],
    )


def test_bwrap_hides_home_and_repo_shows_the_interpreter_and_isolates(tmp_path: Path) -> None:
    args = Bubblewrap("/usr/bin/bwrap").wrap(["python", "-m", "pytest"], layout(tmp_path))
    text = " ".join(args)
    assert args[:9] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs"]
    assert "--tmpfs /home/ada " in text and "--remount-ro /home/ada " in text
    assert "--ro-bind /home/ada/.pyenv /home/ada/.pyenv" in text
    assert "--ro-bind /home/ada/.pyenv/lib" not in text, "a folder already shown brings its subfolders"
    assert "/usr/lib/jvm" not in text, "outside hidden roots nothing needs showing again"
    assert f"--ro-bind {tmp_path}/round/repo {tmp_path}/round/repo" in text, "the shadow copy is read-only"
    assert f"--bind {tmp_path}/round/home {tmp_path}/round/home" in text
    assert f"--bind {tmp_path}/round/tmp {tmp_path}/round/tmp" in text
    assert f"--ro-bind /home/ada/pipeline/data {tmp_path}/round/repo/data" in text
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in args
    assert "--unshare-cgroup" not in text, "Java 17 cannot start in a new cgroup namespace"
    # Order matters: hide, then show again, then mask credentials, then make the hidden read-only.
    assert text.index("--tmpfs /home/ada ") < text.index("--ro-bind /home/ada/.pyenv") < text.index("--remount-ro")
    assert args[-4:] == ["--", "python", "-m", "pytest"]


def test_seatbelt_profile_denies_by_default_and_credentials_last(tmp_path: Path) -> None:
    profile = seatbelt_profile(layout(tmp_path))
    assert profile.count("(") == profile.count(")"), "balanced s-expressions"
    lines = [line for line in profile.splitlines() if line and not line.startswith(";")]
    assert lines[:2] == ["(version 1)", "(deny default)"]
    writes = [line for line in lines if line.startswith("(allow file-write*")]
    assert all("(subpath" in line or "(literal" in line for line in writes), "no unfiltered write allow"
    assert not any(str(tmp_path / "round" / "repo") in line for line in writes), "the shadow copy is not writable"
    network = [line for line in lines if "network" in line]
    assert network and all("localhost" in line for line in network), network
    last = lines[-1]
    assert last.startswith("(deny file-read* file-write*") and '"/home/ada/.databrickscfg"' in last
    assert lines.index("(allow file-read*)") < lines.index(last)
    assert re.search(r'\(deny file-read\* file-write\* \(subpath "/home/ada"\)', profile)


def test_sandbox_environment_is_an_allowlist(tmp_path: Path) -> None:
    parent = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "JAVA_HOME": "/usr/lib/jvm/java-17",
        "OPENAI_API_KEY": "sk-x",
        "DATABRICKS_TOKEN": "dapi",
        "SPARK_REMOTE": "sc://x",
        "PGPASSWORD": "p",
        "GITHUB_PAT": "ghp",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "GOOGLE_APPLICATION_CREDENTIALS": "/x.json",
        "HTTPS_PROXY": "http://proxy",
    }
    env = sandbox_environment(parent, tmp_path / "home", {"PYTHONPATH": "src"})
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "JAVA_HOME": "/usr/lib/jvm/java-17",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": "/tmp",
        "USER": "scaffold",
        "PYTHONPATH": "src",
    }


def test_credential_paths_are_the_ones_that_exist(tmp_path: Path) -> None:
    (tmp_path / ".databrickscfg").write_text("x")
    (tmp_path / ".aws").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".env").write_text("X=1")
    (repo / ".env.local").write_text("X=1")
    found = credential_paths([tmp_path], repo)
    assert found == [tmp_path / ".databrickscfg", tmp_path / ".aws", repo / ".env", repo / ".env.local"]


def test_no_sandbox_is_refused_with_the_fix() -> None:
    with pytest.raises(SandboxUnavailable, match=r"bubblewrap \(bwrap\) is not installed; install it.*--no-sandbox"):
        resolve_sandbox("auto", {"SCAFFOLD_BWRAP": "/nonexistent/bwrap"})
    with pytest.raises(SandboxUnavailable, match="exists only on macOS"):
        resolve_sandbox("seatbelt", {})
    assert resolve_sandbox("off", {}).mode.value == "off"


def test_redactor_removes_secret_values_and_token_shapes(tmp_path: Path) -> None:
    (tmp_path / ".databrickscfg").write_text(
        "[DEFAULT]\nhost = https://adb-1.azuredatabricks.net\ntoken = pat-value-123\n"
    )
    redactor = Redactor.from_environment(
        {"HOME": str(tmp_path), "MY_SERVICE_PASSWORD": "hunter2-hunter2", "PATH": "/usr/bin", "PWD": "/work"},
        home=tmp_path,
    )
    # Token shapes are assembled here so that no secret scanner mistakes this file for a leak.
    hex32 = "0123456789abcdef" * 2
    text = (
        "failed: hunter2-hunter2 at https://adb-1.azuredatabricks.net with pat-value-123; "
        f"{'dapi'}{hex32} {'sk-'}proj-abcdefghijklmnop1234 {'ghp_'}abcdefghijklmnopqrstuvwxyz0123456789 "
        f"{'github_pat_'}11ABCDEFG0123456789_abcdefghij {'AKIA'}ABCDEFGHIJKLMNOP "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl "
        'password=letmein token: abc.def "api_key": "k-123456" in /work and /usr/bin'
    )
    cleaned = redactor.text(text)
    for secret in (
        "hunter2",
        "adb-1.azuredatabricks.net",
        "pat-value-123",
        "dapi0123",
        "sk-proj",
        "ghp_",
        "github_pat_",
        "AKIA",
        "eyJ",
        "letmein",
        "abc.def",
        "k-123456",
    ):
        assert secret not in cleaned, (secret, cleaned)
    assert cleaned.count(MASK) >= 10
    assert "in /work and /usr/bin" in cleaned, "PWD and PATH are not secrets"
    assert redactor.record({"errors": ["token = abcdef"], "n": 1}) == {"errors": [f"token = {MASK}"], "n": 1}


def test_schema_is_read_from_syntax_never_run() -> None:
    good = ast.parse(
        "from pyspark.sql import types as T\n"
        "SCHEMA = T.StructType([\n"
        "    T.StructField('order_id', T.StringType(), False),\n"
        "    T.StructField(name='amount', dataType=T.DecimalType(10, 2)),\n"
        "    T.StructField('tags', T.ArrayType(T.StringType()), True, {'comment': 'x'}),\n"
        "])\n"
    )
    value, lines = find_schema(good)
    assert lines == [2] and value is not None
    assert [(f.name, f.type, f.nullable) for f in read_schema(value)] == [
        ("order_id", "string", False),
        ("amount", "decimal(10,2)", True),
        ("tags", "array<string>", True),
    ]
    assert (
        check_module(
            SPEC, "m.py", ast.parse(ast.unparse(good) + "\ndef transform(raw_orders):\n    return raw_orders\n")
        )
        == []
    )
    for attack in (
        "[__import__('os').system('touch x'), T.StructType([])][1]",
        "T.sys.modules['os'].system('x') or T.StructType([])",
        "T.StructType([T.StructField('a', T.StringType(), bool(print('x')))])",
        "T.StructType(FIELDS)",
        "T.StructType([T.StructField('a', getattr(T, 'StringType')())])",
        "T.StructType([T.StructField(*['a', T.StringType()])])",
    ):
        with pytest.raises(SchemaSyntaxError):
            read_schema(ast.parse(attack, mode="eval").body)


def test_schema_assigned_twice_is_a_contract_error() -> None:
    source = (
        "SCHEMA = T.StructType([T.StructField('order_id', T.StringType(), False)])\n"
        "SCHEMA = T.StructType([])\n"
        "def transform(raw_orders):\n    return raw_orders\n"
    )
    problems = check_module(SPEC, "m.py", ast.parse(source))
    assert [str(p) for p in problems] == ["contract: m.py assigns SCHEMA 2 times (lines 1, 2): assign it once"]


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("import os as o\no.system('x')", "no-os-system"),
        ("from os import system as s", "no-os-system"),
        ("import importlib\nimportlib.import_module('subprocess')", "no-dynamic-code"),
        ("import builtins\ngetattr(builtins, 'ex' + 'ec')('1')", "no-dynamic-code"),
        ("getattr(x, 'sys' + 'tem')", "no-dynamic-code"),
        ("import ctypes", "no-low-level"),
        ("import posix\nposix.system('x')", "no-low-level"),
        ("spark.sparkContext._jvm.java.lang.Runtime", "no-internals"),
        ("getattr(spark, '_jvm')", "no-internals"),
        ("import asyncio\nasyncio.create_subprocess_exec('x')", "no-subprocess"),
        ("from asyncio import subprocess", "no-subprocess"),
        ("import sys\nsys.modules['os']", "no-dynamic-code"),
        ("globals()['x'] = 1", "no-dynamic-code"),
        ("import scaffolder.inside.plugin", "no-dynamic-code"),
        ("(1).__class__.__subclasses__()", "no-internals"),
    ],
)
def test_policy_lint_closes_the_cheap_holes(code: str, rule: str) -> None:
    problems = check_policy("t.py", ast.parse(code), is_test=True)
    assert any(f"{rule}:" in str(p) for p in problems), (code, problems)


def test_policy_lint_leaves_ordinary_pyspark_alone() -> None:
    code = (
        "import logging\nfrom decimal import Decimal\nfrom pyspark.sql import functions as F, Window\n"
        "agg = 'sum'\ncolumn = getattr(F, agg)('amount')\nlog = logging.getLogger(__name__)\n"
        "w = Window.partitionBy('id').orderBy(F.col('ts').desc())\n"
    )
    assert check_policy("m.py", ast.parse(code), is_test=False) == []


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_scaffold_sandbox_proves_the_barrier(tmp_path: Path) -> None:
    result = scaffold(tmp_path, "sandbox")
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join(result.stdout.split())
    assert "sandbox: bubblewrap" in output
    for check in ("write outside the round", "connect to the host's loopback", "read a credential file"):
        assert f"blocked {check}" in output, output
    assert "NOT blocked" not in output


def test_scaffold_sandbox_says_when_it_is_off(tmp_path: Path) -> None:
    result = scaffold(tmp_path, "sandbox", env={"SCAFFOLD_SANDBOX": "off"})
    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "no sandbox (opted out)" in output
    assert output.count("NOT blocked") == 3
