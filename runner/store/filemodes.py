"""Who may read a SQLite run store: its owner only.

The store holds playbook inputs, step outputs, trigger payloads and the audit trail — masked for
known secrets, but still an incident's data. So:

- a directory the store creates (``./.soar/`` by default) is made ``0700``, and the default
  ``.soar/`` is tightened to ``0700`` (with a warning) when it is found wider;
- the database file is created ``0600`` *before* SQLite opens it: SQLite gives its ``-wal``,
  ``-shm`` and ``-journal`` files the mode of the database file, so they are ``0600`` too;
- an existing database, ``-wal``, ``-shm`` or ``-journal`` readable or writable by others is
  tightened to ``0600`` with a warning (a store made by an older soar-runner).

A directory the user chose (``--store sqlite:////srv/soar/soar.db``) keeps its mode: it may be
shared, and the files in it are private anyway. The serve lock file (``<db>.serve.lock``) is made
``0600`` by ``runner.serve.lock``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("soar.store")

DIR_MODE = 0o700
FILE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(folder: Path, *, tighten: bool = False) -> None:
    """Create ``folder`` (and its missing parents) with mode 0700; with ``tighten``, an existing
    one that others may enter is set to 0700 (with a warning)."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask; never widened, but exact
        return
    if tighten:
        _tighten(folder, DIR_MODE, "directory")


def private_database(path: Path) -> None:
    """Make the SQLite file at ``path`` (created empty when missing) and its side files 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE, "run store file")
    else:
        os.close(fd)  # SQLite takes an empty file for an empty database
        os.chmod(path, FILE_MODE)  # exact, whatever the umask
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _tighten(side, FILE_MODE, "run store file")


def _tighten(path: Path, mode: int, what: str) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode & 0o777:
        try:
            os.chmod(path, mode)
        except OSError as exc:  # not ours (another user's store): say so, do not fail
            log.warning("%s %s is readable by others (mode %o) and could not be tightened: %s",
                        what, path, current, exc.strerror or exc)
            return
        log.warning("%s %s was accessible to others (mode %o); tightened to %o", what, path, current, mode)
