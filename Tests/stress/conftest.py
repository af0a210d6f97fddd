"""The stress suite's fixtures live in fixtures.py, shared with Tests/adversarial."""

from fixtures import *  # noqa: F401,F403  (fixtures and the hooks that report measurements)
from fixtures import _wall_clock  # noqa: F401  (autouse; a leading underscore is not exported by *)
