"""Scratch space of a process (download staging folders, parse spools, temp files beside a file
being replaced) that the next run removes once its owner is dead, and never while it lives.

A process killed with SIGKILL (the out-of-memory killer, ``kill -9``, a pod evicted) runs no
cleanup, so its scratch stays behind: partial downloads of tens of MB in ``raw/``, parsed pieces in
the system temp folder. Whoever makes scratch of the same kind later sweeps the dead ones:

* a scratch **folder** is named ``<prefix><pid>-<boot>-<random>-<host>`` and holds a lock file
  (``.owner.lock``) that its owner keeps ``flock``-ed for as long as the folder is in use; the
  kernel drops the lock when the owner dies, however it dies. A folder of this machine whose lock
  can be taken is dead; so is one made before the machine last booted;
* a scratch **file** (a temp name beside the file it will replace) carries the same owner tag; one
  of this machine and boot whose pid no longer exists is dead;
* anything else (another host sharing the folder, a name from before this scheme, an object-store
  key) is dead only once it is older than ``max_age_s`` (a day): the last resort, since its
  owner's liveness cannot be seen from here.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache

LOCK_FILE = ".owner.lock"
#: scratch whose owner's liveness cannot be checked from here is removed once this old
STALE_AFTER_S = 86400.0
#: <pid>-<boot>-<random>-<host>: what an owner tag looks like (the host last: it may hold '-')
_TAG = re.compile(r"(\d+)-([0-9a-f]{0,8})-([A-Za-z0-9_]+)-([A-Za-z0-9.-]+)\Z", re.ASCII)


@lru_cache(maxsize=1)
def _boot_id() -> str:
    """8 hex digits that change at every boot of this machine ('' where the kernel does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")[:8].lower()
    except OSError:
        return ""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "localhost"


def owner_tag(pid: int | None = None) -> str:
    """``<pid>-<boot>-<random>-<host>``: names this process's scratch (see the module doc)."""
    return f"{pid or os.getpid()}-{_boot_id()}-{os.urandom(4).hex()}-{_host()}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _newest_mtime(path: str) -> float:
    """The latest change of a folder or of anything directly in it (a partial download still grows)."""
    newest = os.stat(path).st_mtime
    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            with contextlib.suppress(OSError):
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return newest


def _lock_free(folder: str) -> bool | None:
    """True: nobody holds the folder's lock (its owner is dead); False: held; None: no lock file."""
    try:
        fd = os.open(os.path.join(folder, LOCK_FILE), os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases a lock this check took
    return True


def owner_gone(tag: str) -> bool:
    """The process an owner tag names is certainly gone: it ran on this machine, and either before
    its last boot or under a pid that no longer exists. False when that cannot be known (another
    host, a name without a tag) or the pid exists (possibly reused: kept, the safe side)."""
    m = _TAG.match(tag)
    if not m or m.group(4) != _host():
        return False
    if m.group(2) != _boot_id():
        return bool(m.group(2) and _boot_id())
    return not _pid_exists(int(m.group(1)))


def _dead(path: str, tag: str, is_folder: bool, max_age_s: float, now: float) -> bool:
    m = _TAG.match(tag)
    if m and m.group(4) == _host() and m.group(2) == _boot_id():
        free = _lock_free(path) if is_folder else None
        if free is not None:  # the lock says (whatever its pid, which another namespace may reuse)
            return free
        return owner_gone(tag)  # a file, or a folder whose owner died before it locked it
    if owner_gone(tag):  # made before this machine last booted
        return True
    try:
        return now - (_newest_mtime(path) if is_folder else os.stat(path).st_mtime) > max_age_s
    except OSError:
        return False


def remove_dead(parent: str | os.PathLike[str], prefix: str, marker: str = "",
                max_age_s: float = STALE_AFTER_S) -> list[str]:
    """Remove the scratch folders and files in ``parent`` named ``<prefix><owner tag>`` (or, with
    ``marker``, ``<prefix>...<marker><owner tag>``) whose owner is dead; returns their names.

    Scratch in use (its owner alive, or unknown and recent) is kept."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(parent))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or (marker and marker not in name):
            continue
        tag = name.rsplit(marker, 1)[1] if marker else name[len(prefix):]
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
            if not _dead(entry.path, tag, is_folder, max_age_s, now):
                continue
            if is_folder:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass  # its owner, or another sweeper, removed it first
        except OSError:
            continue  # not ours to remove (permissions) or still being written into: next time
        removed.append(name)
    return removed


@contextlib.contextmanager
def owned_dir(parent: str | os.PathLike[str] | None, prefix: str) -> Iterator[str]:
    """A new folder ``<parent>/<prefix><owner tag>`` (``parent`` None: the system temp folder),
    locked as in use while the block runs and removed after it (see :func:`remove_dead`)."""
    parent = os.fspath(parent) if parent is not None else tempfile.gettempdir()
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, prefix + owner_tag())
    os.mkdir(path, 0o700)
    # The lock is taken under a temporary name and renamed into place, so that a sweeper never
    # sees the lock file unlocked while its owner lives.
    pending = os.path.join(path, f"{LOCK_FILE}.new")
    fd = os.open(pending, os.O_CREAT | os.O_WRONLY, 0o600)  # not inherited by exec'd children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, os.path.join(path, LOCK_FILE))
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
