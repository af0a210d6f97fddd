"""The adversarial suite (issue 11) shares the stress suite's fixtures and helpers
(Tests/stress/fixtures.py, stresslib.py): the daemon under test, temporary directories, ssh."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stress"))

from fixtures import *  # noqa: E402,F401,F403
from fixtures import _wall_clock  # noqa: E402,F401
