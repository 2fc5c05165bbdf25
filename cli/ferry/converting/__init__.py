"""``ferry convert``'s work: Argo Rollouts' and Flagger's manifests as Ferry's.

- ``documents``: the input read, each field with its line;
- ``reports``: what was not carried over and why, with the source object, path and line;
- ``fields``: reading a source so that every field is used or reported (never dropped silently);
- ``checks``: whether Ferry accepts an object (its CRD's schema, then Ferry's own parser);
- ``building``: the context, objects built from checked pieces, metadata;
- ``argo`` and ``flagger``: one module per source.

:func:`convert` takes the documents of every input file together (a Rollout finds its Service
and Deployment, a Canary its MetricTemplates, wherever they are in the input) and gives back the
output in input order: each Argo or Flagger object replaced by what it becomes, every other
object unchanged.
"""

from __future__ import annotations

from cli.ferry.converting import argo, flagger
from cli.ferry.converting.building import Context, Options, Output, ordered
from cli.ferry.converting.checks import Checker
from cli.ferry.converting.documents import Document
from cli.ferry.converting.reports import Origin, Report

__all__ = ["Checker", "Options", "Output", "Report", "convert"]


def convert(
    documents: list[Document], options: Options | None = None, checker: Checker | None = None
) -> tuple[list[Output], Report]:
    report = Report()
    ctx = Context(documents, report, checker or Checker(), options or Options())
    # pass-throughs first, so a conversion can adjust one (a workloadRef's Deployment)
    for i, doc in enumerate(documents):
        if not _converted_kind(doc):
            ctx.outputs[i] = [Output(doc.obj)]
            report.passed.append(Origin.of(doc))
    for i, doc in enumerate(documents):
        if i in ctx.outputs:
            continue
        made = argo.convert(ctx, doc)
        if made is None:
            made = flagger.convert(ctx, doc)
        made = made or []
        ctx.outputs[i] = [Output(ordered(obj), doc) for obj in made]
        report.converted.append(
            (Origin.of(doc), [f"{o['kind']} {o['metadata'].get('name', '')}" for o in made])
        )
    outputs = [out for i in range(len(documents)) for out in ctx.outputs.get(i, [])]
    return outputs, report


def _converted_kind(doc: Document) -> bool:
    group = doc.api_version.split("/")[0]
    return (group == argo.GROUP and doc.kind in argo.KINDS) or (
        group == flagger.GROUP and doc.kind in flagger.KINDS
    )
