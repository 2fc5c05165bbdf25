"""Ferry's version, read once from the installed distribution's metadata."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("ferry-rollouts")
except metadata.PackageNotFoundError:  # running from a checkout that was not installed
    VERSION = "0.0.0+unknown"
