"""The bounds on a condition: its size when parsed, and the work and sizes of one evaluation.

Constants only, shared by the checker, the interpreter and the functions; nothing here may
depend on the rest of the package.
"""

from __future__ import annotations

MAX_LENGTH = 1000
"""Longest condition text, in characters."""
MAX_DEPTH = 50
"""Deepest nesting of the parsed tree."""
MAX_NODES = 400
"""Most parts (names, literals, operators...) a condition may have."""
MAX_FOR_CLAUSES = 2
"""Most ``for`` clauses in one comprehension."""
MAX_STEPS = 1_000_000
"""Work budget of one evaluation: one step per part evaluated, per item iterated, compared,
summed or searched, and per element or character of every list or string built."""
MAX_SIZE = 100_000
"""Longest string or list an expression may build."""
MAX_EXPONENT = 100
"""Largest magnitude of the right-hand side of ``**`` (and of ``round``'s digits)."""
MAX_INT_BITS = 4096
"""Largest integer an expression may build, in bits (about 1233 decimal digits)."""
MAX_NUMBER_TEXT = 100
"""Longest string ``int()`` / ``asInt()`` will parse."""
