"""Entry point of `ac`."""


def main() -> None:
    raise SystemExit("ac: not built yet")
