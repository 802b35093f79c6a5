import signal
from types import FrameType

import pytest

# The support modules import each other, so some load before pytest reaches them as plugins;
# registering the package first keeps assertion rewriting for all of them.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.support.acp_fixtures",
    "tests.support.fixtures",
    "tests.support.seed",
    "tests.support.cli",
]


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("terminated")


def pytest_configure(config: pytest.Config) -> None:
    # A run stopped with SIGTERM (CI timeouts, `timeout`) still tears its fixtures down, so
    # no server, containerd or dockerd outlives it.
    signal.signal(signal.SIGTERM, _interrupt)
