"""What crosses the sandbox's walls: requests in, one report per run out, all bounded and typed.

Three parties, three trust levels:

- the host (scaffold, the judge) never runs model code; it sends requests and decides verdicts;
- the zygote (inside the sandbox) never imports model code either; it starts the Spark Connect
  server, forks one worker per run and relays each worker's single report, unread, with how the
  worker ended;
- a worker runs one table's code once (the real module, a mutant, or a probe) and then dies.

A worker can say anything in its report, so the report is data: the host validates it against
`WorkerReport` (strict, size-bounded) and the verdict never depends on a worker being honest
about anything the judge can check for itself. Frames are length-prefixed JSON; a frame longer
than its bound is an error, never a buffer to grow.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

MAX_REQUEST = 64 * 1024 * 1024  # host -> zygote: a round's files (src/, tables.yml, tests)
MAX_REPORT = 8 * 1024 * 1024  # worker -> host: one run's outcomes and recorded frames
MAX_RELAY = MAX_REPORT + 64 * 1024  # zygote -> host: a report plus how the worker ended
MAX_MESSAGE = 1500  # one failure message, as the model and the user see it
MAX_ROWS = 2000  # rows kept of one recorded DataFrame (test-sized data; the rest is counted)
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """A frame that is cut short, too long or not the expected JSON."""


def write_frame(fd: int, payload: bytes) -> None:
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exact(fd: int, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise EOFError(f"the stream ended {missing} bytes short")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int) -> bytes:
    """One frame; EOFError at a clean end of stream, FrameError when it breaks its bound."""
    header = os.read(fd, _HEADER.size)
    if not header:
        raise EOFError("end of stream")
    if len(header) < _HEADER.size:
        header += read_exact(fd, _HEADER.size - len(header))
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise FrameError(f"a message of {size} bytes (the limit is {limit})")
    return read_exact(fd, size)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Frame(_Model):
    """A DataFrame as data: its columns and (up to MAX_ROWS of) its rows, values JSON-encoded.

    Encoding (`inside/rows.py`): strings and ints as they are; floats, decimals, dates and
    timestamps as their exact text; binary as base64; arrays and structs as lists; maps as lists
    of pairs; null as null. Equal values give equal encodings, so rows compare as data.
    """

    columns: list[tuple[str, str]]  # (name, Spark simpleString)
    nullable: list[bool] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    total: int = 0  # rows the DataFrame had (more than `rows` when truncated)


# --- host -> zygote ---------------------------------------------------------------------------


class Limits(_Model):
    """What one worker may consume; hitting a limit fails its table, never scaffold."""

    memory_bytes: int = 3 * 1024**3  # address space of the worker (Python + the Connect client)
    file_bytes: int = 256 * 1024**2  # the largest file it may write
    tmp_bytes: int = 256 * 1024**2  # its private /tmp
    tmp_files: int = 2000  # files and folders in its private /tmp
    open_files: int = 512


class Config(_Model):
    """The first message: how the zygote sets up the round's Spark and its workers."""

    kind: Literal["config"] = "config"
    port: int
    cores: int
    heap: str = "1g"
    scratch: str = "/tmp"  # where the server's warehouse, local dirs and JVM temp files go
    archive: str | None = None  # the JVM class-data archive to map (read-only)
    private_workers: bool = True  # give each worker its own mount namespace when the kernel allows
    data: str | None = None  # the repo's data/, read-only, as the workers see it
    writable: list[str] = Field(default_factory=list)  # besides the worker's own /tmp (HOME)
    credentials: list[str] = Field(default_factory=list)  # paths the detector reports reads of
    file_bytes: int = 1024**3  # RLIMIT_FSIZE of everything in the sandbox (the server included)
    worker_tmp: str = "/tmp"  # where each worker mounts its private temp folder


class RoundFiles(_Model):
    """The repo as the candidates of a round see it (repo-relative path -> text)."""

    kind: Literal["round"] = "round"
    round_id: str
    files: dict[str, str]
    data_dir: bool = False  # the repo's data/ is shown read-only at <repo>/data


class ProbeCall(_Model):
    """One call of `transform` a probe makes: inputs built from rows the judge chose."""

    label: str
    inputs: dict[str, Frame]  # parameter -> rows and declared schema


class Probe(_Model):
    calls: list[ProbeCall]


class RunRequest(_Model):
    kind: Literal["run"] = "run"
    run_id: str
    round_id: str
    nonce: str
    table: str
    module: str  # dotted name of the table's module
    module_path: str  # repo-relative path of the module
    source: str  # the module's source for this run: the real one, or a mutant at the same path
    tests: list[str] = Field(default_factory=list)  # repo-relative test files (empty for a probe)
    only: list[str] | None = None  # run only these test ids (None: every test collected)
    stop_at_first_failure: bool = False
    test_timeout: float = 60.0
    deadline: float = 600.0  # the whole run, enforced from outside
    seed: int = 0  # the order the tests run in
    coverage: bool = False
    record_inputs: bool = True
    probe: Probe | None = None
    limits: Limits = Field(default_factory=Limits)


class Stop(_Model):
    kind: Literal["stop"] = "stop"


class DropRound(_Model):
    kind: Literal["drop-round"] = "drop-round"
    round_id: str


HostMessage = Annotated[Config | RoundFiles | RunRequest | Stop | DropRound, Field(discriminator="kind")]
HOST_MESSAGE: TypeAdapter[Config | RoundFiles | RunRequest | Stop | DropRound] = TypeAdapter(HostMessage)


# --- worker -> host (relayed by the zygote) ---------------------------------------------------


class Call(_Model):
    """One call of the table's `transform` during a test (or a probe): what went in, what came out."""

    test: str  # the test id, or the probe call's label
    index: int  # the call's number within that test
    inputs: dict[str, Frame] | None = None
    output: Frame | None = None
    error: str = ""  # transform raised, or returned something that is not a DataFrame
    checks: dict[str, int] = Field(default_factory=dict)  # probes: rows breaking each named check


class TestResult(_Model):
    __test__ = False  # a result, not a pytest test class

    test: str  # pytest's node id without the file: `test_x`, `TestX::test_y[1]`
    file: str  # repo-relative
    outcome: Literal["passed", "failed", "skipped", "xfailed", "timeout"]
    message: str = ""
    seconds: float = 0.0


class Covered(_Model):
    test: str  # "" is the import
    lines: list[int]
    arcs: list[tuple[int, int]]


class Coverage(_Model):
    statements: list[int]
    branches: list[tuple[int, int]]
    tests: list[Covered]


class WorkerReport(_Model):
    run_id: str
    nonce: str
    imported: bool  # the table's module imported
    import_error: str = ""
    collect_errors: list[tuple[str, str]] = Field(default_factory=list)  # (file, message)
    tests: list[TestResult] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    policy: list[str] = Field(default_factory=list)  # what the detector saw the code try
    coverage: Coverage | None = None
    seconds: float = 0.0


RunStatus = Literal[
    "reported",  # one report, a clean exit
    "no-report",  # exited without a report
    "crashed",  # killed by a signal, or a non-zero exit
    "timeout",  # outlived its deadline and was killed from outside
    "oversize",  # its report broke the size bound
    "extra",  # wrote more than one report
    "limit",  # hit a resource limit (named in `detail`)
]


class RunDone(_Model):
    kind: Literal["done"] = "done"
    run_id: str
    status: RunStatus
    detail: str = ""
    report: str | None = None  # the worker's report, raw: the host validates it
    seconds: float = 0.0


class Ready(_Model):
    kind: Literal["ready"] = "ready"
    server_seconds: float
    private_workers: bool  # each worker has its own mount namespace and /tmp


class Fatal(_Model):
    kind: Literal["fatal"] = "fatal"
    message: str


ZygoteMessage = Annotated[RunDone | Ready | Fatal, Field(discriminator="kind")]
ZYGOTE_MESSAGE: TypeAdapter[RunDone | Ready | Fatal] = TypeAdapter(ZygoteMessage)
WORKER_REPORT: TypeAdapter[WorkerReport] = TypeAdapter(WorkerReport)


def dump(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def short(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loads_json(data: bytes) -> Any:
    return json.loads(data)
