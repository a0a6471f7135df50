"""Local data that only its owner may read: directories 0700, files 0600.

``threadline up`` keeps credentials, queues, documents and logs under its data
directory; on a shared machine none of it is for other users. Our own files are
created private, and every server or service we start runs with
:data:`PRIVATE_UMASK`, so whatever it creates is private too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
"""For child processes: no group or other permission bits on anything they create."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) and make it 0700, also when it already existed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a 0600 file, never briefly readable by others (umask aside)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
