"""Write a runnable busybox image as an OCI image layout, offline, and print its digest.

    .venv/bin/python examples/busybox_image.py DIR [TAG]

The layout (DIR/oci-layout, DIR/index.json, DIR/blobs/sha256/…) holds one gzip layer with
/bin/busybox of Debian's busybox-static and links for sh, echo, cat …; OCI clients read it
as `oci:DIR:TAG` (podman pull, skopeo copy). The same input always gives the same digest.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The image builder lives with the test support code of this repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.images import BUSYBOX, build_busybox_image


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv[1:2] in (["-h"], ["--help"]) else 2
    if not BUSYBOX.is_file():
        print(f"{BUSYBOX} is missing: apt-get install busybox-static", file=sys.stderr)
        return 1
    tag = argv[2] if len(argv) == 3 else "latest"
    image = build_busybox_image(Path(argv[1]), tag=tag)
    print(image.digest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
