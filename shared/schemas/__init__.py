"""What kube-apiserver does with a custom object against its CRD's structural schema.

A write of a custom resource goes through four steps, in this order, each a function here:
``apply_defaults`` (``default`` values, and dropping ``null`` where the schema does not allow it;
``defaulting``), ``prune`` (fields the schema does not declare are removed; their paths feed
strict field validation's ``unknown field "spec.foo"``; ``pruning``) and ``validate`` (OpenAPI
v3 value validation, giving field errors worded like the API server's; ``validation`` and
``field_errors``), then, when the values have the schema's types, ``check_rules`` (the CEL
rules of ``x-kubernetes-validations``; ``rules``). ``structure`` reads the schema itself.

Not evaluated, on purpose: the ``int32``/``int64`` range of integer formats, and the ObjectMeta
rules for ``metadata`` (the caller validates root metadata itself; embedded ``metadata`` is kept
as it is).

Pure data: no I/O, no storage, no HTTP. Objects are plain JSON values (dict, list, str, int,
float, bool, None).
"""

from __future__ import annotations

from shared.schemas.defaulting import apply_defaults
from shared.schemas.field_errors import FieldError
from shared.schemas.pruning import prune
from shared.schemas.rules import check as check_rules
from shared.schemas.structure import Schema, schema_for_version
from shared.schemas.validation import validate

__all__ = [
    "FieldError",
    "Schema",
    "apply_defaults",
    "check_rules",
    "prune",
    "schema_for_version",
    "validate",
]
