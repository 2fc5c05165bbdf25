"""The errors of applying a patch: what is wrong with it, worded for the API caller.

Which HTTP status a ``PatchError`` becomes (400, 415, 422) is the server's business, not this
package's.
"""

from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied; the message says what is wrong, for the API caller."""


class StrategicMergeUnsupported(PatchError):
    """Strategic merge patch sent for a kind that only accepts JSON and merge patches (415)."""
