"""The sandbox's parts, each checked on its own: the bwrap view built from nothing, the seccomp
program, the Seatbelt profile, the environment allowlist, the redactor, SCHEMA read from syntax,
and `scaffold sandbox` proving the barrier on this machine.
"""

from __future__ import annotations

import ast
import re
import shutil
import struct
from pathlib import Path

import pytest

from lakeforge.tables import TableSpec
from scaffolder.checks import check_module
from scaffolder.redact import MASK, Redactor
from scaffolder.sandbox import (
    Bubblewrap,
    Layout,
    SandboxUnavailable,
    credential_paths,
    resolve_sandbox,
    sandbox_environment,
    seatbelt_profile,
    seccomp_program,
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
        scratch=tmp_path / "round" / "scratch",
        readable=[home / ".pyenv", home / ".pyenv" / "lib", Path("/usr/lib/jvm"), tmp_path / "cache"],
        mounts=[(home / "pipeline" / "data", "/data")],
        etc={"passwd": tmp_path / "etc" / "passwd", "hosts": tmp_path / "etc" / "hosts"},
        hidden=[home, home / "pipeline"],
        credentials=[home / ".databrickscfg"],
        seccomp_fd=9,
    )


def test_bwrap_builds_the_view_from_nothing_and_shows_only_what_the_round_needs(tmp_path: Path) -> None:
    args = Bubblewrap("/usr/bin/bwrap").wrap(["python", "-m", "scaffolder.inside.zygote"], layout(tmp_path))
    text = " ".join(args)
    assert "--ro-bind / /" not in text, "never the host's root: it shows every host unix socket"
    for never in ("/run", "/var", "/home/ada ", "/mnt", "/sys ", "--bind "):
        assert f" {never}" not in text + " ", never
    assert "--ro-bind /usr /usr" in text
    assert "--ro-bind /home/ada/.pyenv /home/ada/.pyenv" in text
    assert "--ro-bind /home/ada/.pyenv/lib" not in text, "a folder already shown brings its subfolders"
    assert "--ro-bind /usr/lib/jvm" not in text, "under /usr already"
    assert f"--ro-bind {tmp_path}/etc/passwd /etc/passwd" in text, "a synthetic /etc/passwd, not the host's"
    assert "--ro-bind /home/ada/pipeline/data /data" in text
    assert "--size 1073741824 --tmpfs /scratch" in text and "--tmpfs /home/scaffold" in text
    assert "--tmpfs /tmp " in text and "--remount-ro /tmp" in text, "every worker mounts its own /tmp"
    assert "--remount-ro /" in text and "--seccomp 9" in text and "--hostname sandbox" in text
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"):
        assert flag in args
    assert "--unshare-cgroup" not in text, "Java 17 cannot start in a new cgroup namespace"
    assert args[-4:] == ["--", "python", "-m", "scaffolder.inside.zygote"]


def test_seccomp_program_refuses_unix_sockets_and_io_uring() -> None:
    program = seccomp_program()
    assert len(program) % 8 == 0 and len(program) // 8 == 13
    instructions = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert instructions[-1] == (0x06, 0, 0, 0x7FFF0000), "everything else is allowed"
    assert (0x15, 0, 1, 1) in instructions, "AF_UNIX is compared"
    assert any(op == 0x15 and k == 425 for op, _, _, k in instructions), "io_uring_setup is refused"


def test_seatbelt_profile_denies_by_default_and_credentials_last(tmp_path: Path) -> None:
    profile = seatbelt_profile(layout(tmp_path))
    assert profile.count("(") == profile.count(")"), "balanced s-expressions"
    lines = [line for line in profile.splitlines() if line and not line.startswith(";")]
    assert lines[:2] == ["(version 1)", "(deny default)"]
    writes = [line for line in lines if line.startswith("(allow file-write*")]
    assert all("(subpath" in line or "(literal" in line for line in writes), "no unfiltered write allow"
    network = [line for line in lines if "network" in line and line.startswith("(allow")]
    assert network and all("localhost" in line for line in network), network
    assert "(deny network-outbound (remote unix-socket))" in lines, "no host unix sockets"
    last = lines[-1]
    assert last.startswith("(deny file-read* file-write*") and '"/home/ada/.databrickscfg"' in last
    assert lines.index("(allow file-read*)") < lines.index(last)
    assert re.search(r'\(deny file-read\* file-write\* \(subpath "/home/ada"\)', profile)


def test_sandbox_environment_is_an_allowlist(tmp_path: Path) -> None:
    parent = {
        "PATH": "/home/ada/bin:/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENAI_API_KEY": "sk-x",
        "DATABRICKS_TOKEN": "dapi",
        "SPARK_REMOTE": "sc://x",
        "PGPASSWORD": "p",
        "GITHUB_PAT": "ghp",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "GOOGLE_APPLICATION_CREDENTIALS": "/x.json",
        "HTTPS_PROXY": "http://proxy",
        "SCAFFOLD_ROUND_PLAN": "/tmp/plan.json",
    }
    env = sandbox_environment(parent, "/home/scaffold", {"PYTHONPATH": "src"})
    env.pop("JAVA_HOME", None)  # the machine's JDK, wherever it is
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": "/home/scaffold",
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


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_scaffold_sandbox_proves_the_barrier(tmp_path: Path) -> None:
    result = scaffold(tmp_path, "sandbox")
    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join(result.stdout.split())
    assert "sandbox: bubblewrap" in output
    for check in (
        "write outside the round",
        "connect to the host's loopback",
        "connect to a unix socket on the host",
        "read a credential file",
        "fill the scratch space past its cap",
        "see /run, /var/run or your home folder",
        "find a unix socket anywhere in the view",
    ):
        assert f"blocked {check}" in output, output
    assert "NOT blocked" not in output


def test_scaffold_sandbox_says_when_it_is_off(tmp_path: Path) -> None:
    result = scaffold(tmp_path, "sandbox", env={"SCAFFOLD_SANDBOX": "off"})
    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "no sandbox (opted out)" in output
    assert output.count("NOT blocked") == 4
