"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints what comes
back; it computes no columns itself. This package builds that Table: for custom resources from
the CRD version's ``additionalPrinterColumns`` (selected with ``shared.jsonpath``), for
a few built-in kinds with the columns the real server's printers give, and NAME + AGE for
anything else. Like the real server it always fills every column, including the ``priority: 1``
ones that kubectl shows only with ``-o wide``.

Printing is table-driven: a kind's printer is a tuple of columns, each a name, a type, a
description and the function computing its cell (``columns``). ``builtin`` holds the column
table of the built-in kinds (the Pod's status cells in ``pods``), ``custom`` turns a CRD's
printer columns into the same shape, and ``table`` renders rows into the Table envelope.

Pure data: no I/O, no clock (the caller passes ``now``), no eval of paths or expressions.
"""

from __future__ import annotations

from local.sim.tables.durations import human_duration
from local.sim.tables.table import to_table

__all__ = ["human_duration", "to_table"]
