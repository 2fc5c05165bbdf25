"""``ferry convert``: Argo Rollouts' and Flagger's manifests as Ferry's.

Reads files (``-`` for standard input) of multi-document YAML and writes Ferry's manifests, as
multi-document YAML, to standard output (or ``-o FILE``); every other object passes through
unchanged. On standard error, a report of every field that was not carried over and why, with
the source object, the field's path and its line (``--report json`` for machines), then the
notes (how something was expressed, values Ferry needed and the source left implicit).

Exit codes: 0 converted and nothing dropped; 1 converted, but something was not carried over
(the report says what); 2 the input could not be read (``file:line`` where the YAML fails) or
Ferry's CRDs were not found. The work is ``cli.ferry.converting``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

if TYPE_CHECKING:
    from cli.ferry.converting import Output
    from cli.ferry.converting.documents import Document

# the conversion (CRD schemas, CEL, every router) is imported when `convert` runs, not when the
# command line is parsed: `ferry serve` builds the same parser at every cold start

OK, DROPPED, UNREADABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = sub.add_parser(
        "convert",
        help="convert Argo Rollouts and Flagger manifests to Ferry's",
        description=(
            "Convert Argo Rollouts (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, "
            "AnalysisRun, Experiment) and Flagger (Canary, MetricTemplate) manifests to "
            "Ferry's; other objects pass through unchanged. Exit 0: everything carried over; "
            "1: something was not (see the report on stderr); 2: the input cannot be read."
        ),
    )
    made.add_argument("files", nargs="+", metavar="FILE", help="YAML files, - for stdin")
    made.add_argument("-o", "--output", metavar="FILE", help="write here (default stdout)")
    made.add_argument(
        "--report",
        choices=("text", "json"),
        default="text",
        help="the report's format on stderr (default text)",
    )
    made.add_argument(
        "--metrics-server",
        metavar="URL",
        help="Flagger's -metrics-server: the Prometheus of its built-in metrics when a Canary "
        "names none (default Flagger's, http://prometheus:9090)",
    )
    made.add_argument(
        "--mesh-provider",
        metavar="PROVIDER",
        help="Flagger's -mesh-provider: the provider of a Canary that names none "
        "(default Flagger's, istio)",
    )
    made.add_argument(
        "--crds",
        type=Path,
        metavar="DIR",
        help="Ferry's CRDs, to check what is written (default the checkout's knative/crds)",
    )
    made.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cli.ferry import converting
    from cli.ferry.converting.building import (
        FLAGGER_MESH_PROVIDER,
        FLAGGER_METRICS_SERVER,
        Options,
    )
    from cli.ferry.converting.checks import CRDS, Checker, MissingCRDs
    from cli.ferry.converting.documents import InputError, read

    documents: list[Document] = []
    try:
        for name in args.files:
            if name == "-":
                documents += read("<stdin>", sys.stdin.read())
                continue
            try:
                text = Path(name).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                print(f"ferry convert: cannot read {name}: {exc}", file=sys.stderr)
                return UNREADABLE
            documents += read(name, text)
    except InputError as exc:
        print(f"ferry convert: {exc}", file=sys.stderr)
        return UNREADABLE
    options = Options(
        metrics_server=args.metrics_server or FLAGGER_METRICS_SERVER,
        mesh_provider=args.mesh_provider or FLAGGER_MESH_PROVIDER,
    )
    try:
        outputs, report = converting.convert(documents, options, Checker(args.crds or CRDS))
    except MissingCRDs as exc:
        print(f"ferry convert: {exc}", file=sys.stderr)
        return UNREADABLE
    text = dump(outputs)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if args.report == "json":
        print(report.to_json(), file=sys.stderr)
    else:
        for line in report.lines():
            print(line, file=sys.stderr)
    return DROPPED if report.not_carried else OK


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings (queries) as literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and all(line == line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _string)


def dump(outputs: list[Output], out: TextIO | None = None) -> str:
    """The output as multi-document YAML; each converted object under a comment naming the
    source object it comes from."""
    parts: list[str] = []
    for output in outputs:
        head = ""
        if output.source is not None:
            src = output.source
            head = (
                f"# ferry convert: from {src.api_version} {src.kind} {src.name} "
                f"({src.file}:{src.line})\n"
            )
        body = yaml.dump(output.obj, Dumper=_Dumper, sort_keys=False, width=100)
        parts.append(head + body)
    return "---\n".join(parts)
