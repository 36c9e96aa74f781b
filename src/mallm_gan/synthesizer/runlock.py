"""One fitting process per run directory: a lock file holding the PID and host of the process using it."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import RunLockedError

log = logging.getLogger(__name__)

LOCK = "fit.lock"


@contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the duration of the block.

    The lock file is created atomically (``O_EXCL``); it names the process that holds it. A lock left by a
    process of this host that no longer exists is taken over with a logged notice.

    Raises:
        RunLockedError: a live process (or one on another host, whose state cannot be checked) holds it.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    token = secrets.token_hex(8)
    _acquire(path, token)
    try:
        yield path
    finally:
        holder = _read(path)
        if holder is not None and holder.get("token") == token:
            path.unlink(missing_ok=True)


def _acquire(path: Path, token: str) -> None:
    me = {"pid": os.getpid(), "host": socket.gethostname(), "token": token, "since": time.time()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _settled(path)
            if holder is not None and not _stale(holder):
                raise RunLockedError(
                    f"{path.parent} is in use by process {holder.get('pid')} on {holder.get('host')} (lock file "
                    f"{path}); wait for it to finish, or use another run directory. If that process is gone, "
                    "delete the lock file",
                    pid=holder.get("pid"), host=holder.get("host"),
                ) from None
            _take_over(path, holder)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        return
    raise RunLockedError(f"could not lock {path.parent}: its lock file {path} keeps changing")


def _settled(path: Path) -> dict[str, Any] | None:
    """The holder a lock file names; ``None`` when it is gone or still unreadable after a moment (a process
    killed between creating and writing it)."""
    for _ in range(10):
        if not path.exists():
            return None
        holder = _read(path)
        if holder is not None:
            return holder
        time.sleep(0.05)
    return {}


def _stale(holder: dict[str, Any]) -> bool:
    """Whether the holder is certainly gone: a dead PID on this host (or an empty lock file)."""
    if not holder:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError, OverflowError):
        return False
    return False


def _take_over(path: Path, holder: dict[str, Any] | None) -> None:
    if holder is None:
        return  # released meanwhile: just try again
    # re-read just before removing, so a lock another process took over meanwhile is not removed
    if _read(path) != (holder or None):
        return
    log.warning(
        "taking over the lock of %s: process %s on %s that held it no longer exists",
        path.parent, holder.get("pid", "?"), holder.get("host", "?"),
    )
    path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["LOCK", "run_lock"]
