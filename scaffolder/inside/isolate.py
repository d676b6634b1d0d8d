"""Make a freshly forked worker its own small world, before any model code is imported.

Inside the sandbox every worker is a fork of the zygote. Where the kernel lets a process create
a user namespace (Linux, also nested inside bubblewrap), each worker gets:

- its own mount namespace, with a private, size- and inode-capped tmpfs on `/tmp` and another on
  the repo folder, so no run sees a file another run wrote and every run sees the repo at the
  same path (a mutant's module lies where the real one lies);
- no capabilities afterwards (it cannot undo the mounts), and resource limits: address space,
  file size, open files, no core dumps.

Where namespaces are not available (Ubuntu's AppArmor rule inside bubblewrap, macOS) a worker
gets a fresh randomly named folder instead; the zygote counts what it leaves.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import secrets
from dataclasses import dataclass
from pathlib import Path

from scaffolder.inside.protocol import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
REPO = "/repo"  # where every worker sees the repo when it has its own mount namespace
REPO_BYTES = 64 * 1024 * 1024


class IsolationError(Exception):
    """The worker could not be isolated: it must not run model code."""


@dataclass(frozen=True)
class Place:
    repo: Path  # where the repo's files go (read-only once written)
    tmp: Path  # the worker's temp folder
    private: bool  # its own mount namespace


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise IsolationError(f"{what} failed: {os.strerror(errno)}")


def namespaces_work(tmp: str = "/tmp") -> bool:
    """Can a child create a user + mount namespace here? (Checked once, in a throwaway fork.)"""
    uid, gid = os.getuid(), os.getgid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        with contextlib.suppress(BaseException):
            _check(_libc().unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
            _map_ids(uid, gid)
            _mount_tmpfs(tmp, 1024 * 1024, 16)
            code = 0
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _map_ids(uid: int, gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _mount_tmpfs(target: str, size: int, inodes: int) -> None:
    libc = _libc()
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    options = f"size={size},nr_inodes={inodes},mode=1777".encode()
    _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), f"mounting {target}")


def _remount_read_only(target: str) -> None:
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    _check(_libc().mount(None, target.encode(), None, flags, None), f"making {target} read-only")


def _drop_capabilities() -> None:
    libc = _libc()
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(header, data), "dropping capabilities")


def enter(private: bool, limits: Limits, scratch_root: str = "/tmp", tmp: str = "/tmp") -> Place:
    """Isolate this (freshly forked, single-threaded) process; returns where its files go."""
    os.setsid()
    if private:
        uid, gid = os.getuid(), os.getgid()
        _check(_libc().unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), "unshare")
        _map_ids(uid, gid)
        _become_pid_one()
        _mount_tmpfs(tmp, limits.tmp_bytes, limits.tmp_files)
        libc = _libc()
        options = f"size={REPO_BYTES},nr_inodes=20000,mode=0755".encode()
        _check(libc.mount(b"tmpfs", REPO.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mounting the repo")
        place = Place(Path(REPO), Path(tmp), True)
    else:
        base = Path(scratch_root) / f"w-{secrets.token_hex(8)}"
        (base / "repo").mkdir(parents=True)
        (base / "tmp").mkdir()
        place = Place(base / "repo", base / "tmp", False)
    _limit(limits)
    return place


def _become_pid_one() -> None:
    """Fork into the new PID namespace: the child runs on as its pid 1, this process waits for it.

    From inside, no other process of the sandbox (the zygote, the Spark server, other runs) has
    a pid this run can name: `kill`, `pidfd_open` and `getppid` reach nothing outside. (`/proc`
    still lists them: the kernel refuses a fresh /proc under bubblewrap's masked one.) When the
    run's pid 1 ends, the kernel ends everything it started.
    """
    pid = os.fork()
    if pid:  # the parent: nothing but a relay of the child's end
        for fd in range(3, 1024):
            with contextlib.suppress(OSError):
                os.close(fd)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def seal(place: Place) -> None:
    """After the files are written: the repo read-only and no way back (no capabilities)."""
    if place.private:
        _remount_read_only(str(place.repo))
        _drop_capabilities()


def _limit(limits: Limits) -> None:
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(which)
            soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (soft, soft))
