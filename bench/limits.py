"""Physical limits of this machine for the blob paths, measured the way a server would work.

Each limit is the best of a few tries: noise from other processes only ever lowers a ceiling.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass
class Limits:
    sha256_mib_s: float
    write_fsync_mib_s: float
    loopback_mib_s: float
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def upload_mib_s(self) -> float:
        """An upload must be hashed and made durable: the slower of the two bounds it."""
        return min(self.sha256_mib_s, self.write_fsync_mib_s)

    @property
    def upload_bound(self) -> str:
        return "sha256" if self.sha256_mib_s <= self.write_fsync_mib_s else "write+fsync"

    @property
    def download_mib_s(self) -> float:
        return self.loopback_mib_s

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["upload_limit_mib_s"] = self.upload_mib_s
        data["upload_bound"] = self.upload_bound
        data["download_limit_mib_s"] = self.download_mib_s
        return data


def sha256_speed(total: int, block: bytes) -> float:
    """One core hashing `total` bytes, fed in `block`-sized pieces."""
    hasher = hashlib.sha256()
    view = memoryview(block)
    start = time.perf_counter()
    done = 0
    while done < total:
        hasher.update(view)
        done += len(view)
    hasher.digest()
    return done / MIB / (time.perf_counter() - start)


def write_fsync_speed(directory: Path, total: int, block: bytes) -> float:
    """Sequential write of a new file, then fsync, as a blob store commits an upload."""
    path = directory / f".limits-{os.getpid()}.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        done = 0
        while done < total:
            done += os.write(fd, block)
        os.fsync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return done / MIB / elapsed


# The sender runs as its own process, as a server would, rather than as a thread of the
# receiver (and is not forked: a fork would make every page of the receive buffer copy-on-write).
# It sends the file once per byte it receives, all on one connection.
_SENDER = """
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
with open(sys.argv[1], "rb") as f:
    while conn.recv(1):
        conn.sendfile(f, 0, int(sys.argv[2]))
conn.close()
"""


def loopback_speeds(source: Path, size: int, buf: memoryview, passes: int) -> list[float]:
    """sendfile(2) from a page-cached file to recv_into(2) over 127.0.0.1, like a blob GET.

    All passes share one connection: TCP grows its receive window as a connection carries
    data, and the download workload runs on a keep-alive connection that has done so.
    """
    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, str(source), str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    rates: list[float] = []
    try:
        assert sender.stdout is not None
        port = int(sender.stdout.readline())
        with socket.create_connection(("127.0.0.1", port)) as client:
            for _ in range(passes):
                client.sendall(b"!")
                start = time.perf_counter()
                got = 0
                while got < size:
                    n = client.recv_into(buf[got:size])
                    if not n:
                        raise RuntimeError(f"loopback test received {got} of {size} bytes")
                    got += n
                rates.append(size / MIB / (time.perf_counter() - start))
    finally:
        sender.wait(timeout=60)
    return rates


def measure(directory: Path, source: Path, size: int, buf: memoryview, tries: int = 3) -> Limits:
    """`source` is a page-cached file of `size` bytes; `buf` can hold it."""
    block = os.urandom(16 * MIB)
    samples: dict[str, list[float]] = {"sha256": [], "write_fsync": [], "loopback": []}
    for _ in range(tries):
        samples["sha256"].append(sha256_speed(size, block))
        samples["write_fsync"].append(write_fsync_speed(directory, size, block))
    # Cheap and the noisiest of the three: more passes.
    samples["loopback"] = loopback_speeds(source, size, buf, passes=2 * tries + 1)
    return Limits(
        sha256_mib_s=max(samples["sha256"]),
        write_fsync_mib_s=max(samples["write_fsync"]),
        loopback_mib_s=max(samples["loopback"]),
        samples=samples,
    )
