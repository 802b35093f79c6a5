"""Run the examples of a documentation page as one shell script, top to bottom.

Conventions of the pages (stated in a comment on each):

- every ```bash block runs; ```shell, ```text and other blocks do not;
- a line ending in `# exit status 1` must exit with status 1 (`ac auth can-i` saying no,
  a refusal the page shows on purpose);
- `<!-- test: push REF… -->` pushes small images (as admin) at that point: `NS/NAME:TAG`,
  where tags of one NAME listed together share one digest.

`python -m tests.support.doc_examples URL PASSWORD REF…` is the push the script calls.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
_PUSH = re.compile(r"<!--\s*test:\s*push\s+(.+?)\s*-->")
_FAILS = re.compile(r"#\s*exit status 1\s*$")


def script(page: Path, replacements: list[tuple[str, str]], push_command: str) -> str:
    """The page's runnable examples as a bash script (`set -euo pipefail`, traced)."""
    lines = ["set -euo pipefail", "set -x"]
    language: str | None = None
    pending = ""
    for raw in page.read_text().splitlines():
        fence = _FENCE.match(raw)
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language is None:
            push = _PUSH.search(raw)
            if push:
                lines.append(f"{push_command} {push.group(1)}")
            continue
        if language != "bash":
            continue
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        for old, new in replacements:
            line = line.replace(old, new)
        if _FAILS.search(line):
            command = _FAILS.sub("", line).strip()
            quoted = shlex.quote(command)
            lines.append(
                f"set +e; ( {command} ); rc=$?; set -e; "
                f'[ "$rc" -eq 1 ] || {{ echo "expected exit status 1, got $rc: "{quoted} >&2; '
                "exit 1; }"
            )
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def push(url: str, password: str, refs: list[str]) -> None:
    from tests.support.registry_client import RegistryClient, make_image

    images: dict[str, object] = {}
    with RegistryClient(url, basic=("admin", password)) as client:
        for ref in refs:
            repo, _, tag = ref.rpartition(":")
            image = images.setdefault(repo, make_image(layer_size=2000))
            response = client.push_image(repo, tag, image)  # type: ignore[arg-type]
            if response.status_code != 201:
                raise SystemExit(f"push of {ref} failed: {response.status_code} {response.text}")


if __name__ == "__main__":
    push(sys.argv[1], sys.argv[2], sys.argv[3:])
