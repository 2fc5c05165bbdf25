"""``kubectl ferry lint FILE...``: Ferry's objects in YAML files checked offline, for CI.

Each object of group ``ferry.dev`` (Rollout, AnalysisTemplate, ClusterAnalysisTemplate,
AnalysisRun, Experiment, WebhookPolicy) is checked as the API server would check it, then as
Ferry would read it:

1. its CRD's schema (``knative/crds``), with ``shared.schemas``, the code the simulator's API
   server runs: defaults, unknown fields (kubectl's strict field validation refuses them),
   OpenAPI value validation, then the CRD's CEL rules;
2. Ferry's own parser of the object as the API server would store it: ``shared.routers.checked``
   (``shared.models.parse`` and the router's checks, what the functions load) for a Rollout,
   ``shared.analysis.validation`` for templates and runs, ``shared.experiments.spec`` for an
   Experiment, ``shared.webhookpolicies`` for a WebhookPolicy;
3. across the files: the templates that the Rollout's and Experiments' analyses name are among
   the files given (else a warning: they may be in the cluster), and they get every argument
   they require (``shared.analysis.arguments.run_spec``, as an AnalysisRun is made).

Every message is ``FILE:LINE:COLUMN: error|warning: field.path: what is wrong — what to do``,
at the line of the offending field (the YAML is composed with PyYAML's nodes, which keep where
each key and value was written). Objects of other groups are skipped and counted. Pure but for
reading the files: nothing here talks to a cluster.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from shared import models, routers, schemas, webhookpolicies
from shared.analysis import arguments, model, validation
from shared.experiments import spec as experiments
from shared.schemas import field_errors, structure

Obj = dict[str, Any]

CLEAN, ERRORS, UNREADABLE = 0, 1, 2
"""Exit codes of ``lint``."""
CRDS = Path(__file__).resolve().parents[2] / "knative" / "crds"
"""Ferry's CRDs (the repository's ``knative/crds``); ``--crds`` names another directory."""
STDIN = "-"
STDIN_NAME = "<stdin>"
ERROR, WARNING = "error", "warning"
TEMPLATE_KINDS = (model.TEMPLATE_KIND, model.CLUSTER_TEMPLATE_KIND)


class Unreadable(Exception):
    """A file that cannot be read, or is not YAML; the message is ``FILE[:LINE:COL]: ...``."""


# -- reading YAML with the place of every node -----------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading values as kubectl sends them to the API server: a
    timestamp stays the string it was written as (kubectl's YAML decoder keeps it a string)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class Doc:
    """One object of a file: where it was written, its YAML node and its value."""

    file: str
    node: yaml.Node
    obj: Any


def _plain(value: Any, seen: tuple[int, ...] = ()) -> Any:
    """``value`` as the JSON kubectl would send: string keys, bytes as base64. ValueError for a
    value that refers to itself (a recursive alias)."""
    if isinstance(value, dict | list):
        if id(value) in seen:
            raise ValueError("a value contains itself (a recursive YAML alias)")
        seen = (*seen, id(value))
    if isinstance(value, dict):
        return {_key(k): _plain(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, seen) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return key if isinstance(key, str) else str(key)


def read_text(name: str, stdin: TextIO | None = None) -> str:
    """The text of file ``name`` (``-``: standard input); :class:`Unreadable` if it cannot be
    read as UTF-8."""
    shown = STDIN_NAME if name == STDIN else name
    try:
        if name == STDIN:
            return (stdin or sys.stdin).read()
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise Unreadable(f"{shown}: cannot read it: {reason}") from None


def documents(name: str, text: str) -> list[Doc]:
    """The documents of a file's ``text`` with their nodes; :class:`Unreadable` (at the line
    and column of the mistake) when it is not YAML."""
    shown = STDIN_NAME if name == STDIN else name
    loader = _Loader(text)
    found: list[Doc] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            found.append(Doc(shown, node, _plain(loader.construct_document(node))))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise Unreadable(f"{where}: error: not valid YAML: {what} — fix the YAML syntax") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise Unreadable(f"{shown}: error: cannot read the YAML: {exc}") from None
    finally:
        loader.dispose()
    return found


# -- from a field path to the line it was written on -----------------------------------------

_TOKEN = re.compile(r"\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|\.?([^.\[]+)")


def path_tokens(path: str) -> list[str | int]:
    """``spec.steps[1].setWeight`` as ``["spec", "steps", 1, "setWeight"]`` (a key written in
    brackets, ``labels['app']``, is one token)."""
    tokens: list[str | int] = []
    for index, single, double, name in _TOKEN.findall(path):
        if index:
            tokens.append(int(index))
        else:
            tokens.append(single or double or name)
    return tokens


def locate(node: yaml.Node, path: str) -> tuple[int, int]:
    """The line and column (1-based) of the field at ``path`` below ``node``: the key that
    names it (or the list item), else the nearest of its parents that was written."""
    mark = node.start_mark
    tokens = path_tokens(path)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if isinstance(node, yaml.SequenceNode) and isinstance(token, int):
            if token >= len(node.value):
                break
            node = node.value[token]
            mark = node.start_mark
            i += 1
            continue
        if not isinstance(node, yaml.MappingNode) or isinstance(token, int):
            break
        # a key may hold dots (an annotation): the longest run of tokens that names a key
        for end in range(len(tokens), i, -1):
            run = tokens[i:end]
            if not all(isinstance(t, str) for t in run):
                continue
            wanted = ".".join(str(t) for t in run)
            pair = next(
                (
                    (k, v)
                    for k, v in reversed(node.value)
                    if isinstance(k, yaml.ScalarNode) and k.value == wanted
                ),
                None,
            )
            if pair is not None:
                mark, node = pair[0].start_mark, pair[1]
                i = end
                break
        else:
            break
    return mark.line + 1, mark.column + 1


def duplicate_keys(node: yaml.Node, path: str = "") -> Iterator[tuple[str, yaml.Node, int]]:
    """Keys written twice in one mapping (kubectl refuses them; PyYAML keeps the last): the
    path, the second key's node and the line of the first."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            at = structure.child_path(path, key.value)
            if key.value in first:
                yield at, key, first[key.value]
            else:
                first[key.value] = key.start_mark.line + 1
            yield from duplicate_keys(value, at)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, structure.index_path(path, i))


# -- messages --------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Message:
    """``FILE:LINE:COLUMN: error|warning: field.path: what is wrong — what to do``."""

    file: str
    line: int
    column: int
    severity: str
    path: str
    what: str
    todo: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.path}: "
            f"{self.what} — {self.todo}"
        )

    def to_dict(self) -> Obj:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "path": self.path,
            "message": self.what,
            "fix": self.todo,
        }


_PATH = re.compile(r"^((?:spec|metadata|status|args)(?:\.[A-Za-z0-9_\-/]+|\[\d+\])*)(.*)$", re.S)
_VERBS = (
    "add",
    "ask",
    "check",
    "choose",
    "create",
    "declare",
    "delete",
    "give",
    "keep",
    "leave",
    "list",
    "make",
    "move",
    "name",
    "pass",
    "put",
    "remove",
    "set",
    "split",
    "use",
    "write",
)
_ADVICE = re.compile(r"^(.*?)(?:;|:| —| -)\s+((?:" + "|".join(_VERBS) + r")\b.*)$", re.S)


def advice(what: str) -> tuple[str, str]:
    """A problem as Ferry or the API server words it, split into what is wrong and what to do
    (Ferry's messages often say it after a ``;``; otherwise it follows from their shape)."""
    what = what.strip().rstrip(".")
    said = _ADVICE.match(what)
    if said and said.group(1):
        return said.group(1).strip(), said.group(2).strip()
    rules: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"^(.*) \(known: (.*)\)$", lambda m: f"use one of: {m.group(2)}"),
        (r"\(routers that can: (.*)\)", lambda m: f"use a router that can ({m.group(1)})"),
        (r"\bis required\b|^Required value", lambda m: "add it"),
        (r"^Unsupported value: .*: supported values: (.*)$", lambda m: f"use one of {m[1]}"),
        (r"must be of type ([\w,]+)", lambda m: f"write it as {_a(m.group(1))}"),
        (r"should be less than or equal to (\S+)", lambda m: f"use at most {m.group(1)}"),
        (r"should be less than (\S+)", lambda m: f"use less than {m.group(1)}"),
        (r"should be greater than or equal to (\S+)", lambda m: f"use at least {m.group(1)}"),
        (r"should be greater than (\S+)", lambda m: f"use more than {m.group(1)}"),
        (r"should match '.*\(ms\|s\|m\|h\)", lambda m: "write a duration like 30s, 5m or 1h30m"),
        (r"should match '(.*)'", lambda m: f"make it match {m.group(1)}"),
        (r"^Too long", lambda m: "shorten it"),
        (r"^Too many", lambda m: "remove some of its items"),
        (r"^Duplicate value", lambda m: "remove the duplicate"),
        (r"have at most (\d+) properties", lambda m: f"keep at most {m.group(1)} of its fields"),
        (r"have at least (\d+) properties", lambda m: "give it one of its fields"),
        (r"\b(twice|used by another)\b", lambda m: "give each its own name"),
        (r"is not a valid Kubernetes name", lambda m: "use lowercase letters, digits, - and ."),
        (r"\bmust be (.*?)(?:, got .*)?$", lambda m: f"make it {m.group(1)}"),
        (r"\bmust have (.*)$", lambda m: f"give it {m.group(1)}"),
        (r"\bmust (list|name|add) (.*)$", lambda m: f"{m[1]} {m[2]}"),
        (r"\bmust (match|carry|start) (.*)$", lambda m: f"make it {m[1]} {m[2]}"),
        (r"\bmust not (.*)$", lambda m: f"change it: it must not {m.group(1)}"),
        (r"is past the last step", lambda m: "name an index below the number of steps"),
        (r"names no argument|does not declare it", lambda m: "declare it in spec.args"),
        (r"is not a regular expression|does not compile", lambda m: "fix the expression"),
        (r"invalid duration", lambda m: "write a duration like 30s, 5m or 1h30m"),
    ]
    for pattern, todo in rules:
        found = re.search(pattern, what)
        if found:
            return what, todo(found)
    return what, "fix it (Ferry refuses the object until then)"


def _a(types: str) -> str:
    words = {"integer": "an integer", "string": "a string", "boolean": "true or false"}
    words |= {"object": "an object (a mapping)", "array": "a list", "number": "a number"}
    return " or ".join(words.get(t, t) for t in types.split(","))


# -- the CRDs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crds:
    """Ferry's CRDs by kind."""

    by_kind: dict[str, Obj]

    @classmethod
    def load(cls, directory: Path) -> Crds:
        found: dict[str, Obj] = {}
        for path in sorted(directory.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc.get("spec") or {}
                    if spec.get("group") == models.GROUP:
                        found[str((spec.get("names") or {}).get("kind"))] = doc
        return cls(found)

    def schema(self, kind: str, version: str) -> structure.Schema | None:
        crd = self.by_kind.get(kind)
        return None if crd is None else structure.schema_for_version(crd, version)

    def versions(self, kind: str) -> list[str]:
        crd = self.by_kind.get(kind) or {}
        return [str(v.get("name")) for v in (crd.get("spec") or {}).get("versions") or []]

    def scoped(self, kind: str) -> bool:
        """Whether objects of ``kind`` live in a namespace."""
        crd = self.by_kind.get(kind) or {}
        return bool((crd.get("spec") or {}).get("scope", "Namespaced") == "Namespaced")


def _known_fields(schema: structure.Schema, path: str) -> list[str]:
    """The fields the schema declares at ``path`` (the parent of an unknown field)."""
    node: structure.Schema | None = schema
    for token in path_tokens(path):
        if node is None:
            return []
        if isinstance(token, int):
            node = structure.items_of(node)
        else:
            node = structure.properties_of(node).get(token)
    return sorted(structure.properties_of(node)) if node is not None else []


# -- checking --------------------------------------------------------------------------------


@dataclass
class Found:
    """A Ferry object of the files: its document, and what Ferry made of it."""

    doc: Doc
    kind: str
    obj: Obj
    """As the API server would store it (defaulted, unknown fields pruned)."""
    valid: bool = True
    parsed: Any = None
    refused: list[str] = field(default_factory=list)
    """The paths of the API server's errors (Ferry's own about the same fields are not shown:
    the API server's say it first)."""


@dataclass
class Report:
    """What ``lint`` found in the files."""

    messages: list[Message] = field(default_factory=list)
    objects: list[Found] = field(default_factory=list)
    skipped: int = 0
    unreadable: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(m.severity == ERROR for m in self.messages)

    @property
    def warnings(self) -> int:
        return sum(m.severity == WARNING for m in self.messages)

    def add(
        self,
        doc: Doc,
        severity: str,
        path: str,
        what: str,
        todo: str = "",
        *,
        at: yaml.Node | None = None,  # where it was written, when the path names another node
    ) -> None:
        if not todo:
            what, todo = advice(what)
        if at is None:
            line, column = locate(doc.node, path)
        else:
            line, column = at.start_mark.line + 1, at.start_mark.column + 1
        self.messages.append(Message(doc.file, line, column, severity, path, what, todo))

    def add_problem(self, doc: Doc, problem: str, fallback: str, severity: str = ERROR) -> None:
        """One of Ferry's problems (``spec.x.y must ...``), at the path it starts with."""
        match = _PATH.match(problem)
        path, what = (match.group(1), match.group(2)) if match else (fallback, problem)
        if path.startswith("args"):  # an AnalysisRun's argument, as the parsers name it
            path, what = fallback, problem
        self.add(doc, severity, path, what.lstrip(" :").strip() or problem)

    def exit_code(self, *, warnings_as_errors: bool = False) -> int:
        if self.unreadable:
            return UNREADABLE
        if self.errors or (warnings_as_errors and self.warnings):
            return ERRORS
        return CLEAN


def _related(a: str, b: str) -> bool:
    """Whether one path is the other or below it."""
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


def _schema_check(report: Report, doc: Doc, obj: Obj, crds: Crds) -> Found | None:
    """The API server's checks of ``obj``; the object as it would store it, or None when it
    would not even take it (unknown kind or version)."""
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind") or "")
    version = api_version.rpartition("/")[2]
    if kind not in crds.by_kind:
        known = ", ".join(sorted(crds.by_kind))
        report.add(
            doc, ERROR, "kind", f"{models.GROUP} has no kind {kind!r}", f"use one of {known}"
        )
        return None
    schema = crds.schema(kind, version)
    if schema is None:
        served = ", ".join(f"{models.GROUP}/{v}" for v in crds.versions(kind))
        report.add(
            doc, ERROR, "apiVersion", f"{kind} is not served as {api_version}", f"use {served}"
        )
        return None
    before = len(report.messages)
    stored = copy.deepcopy(obj)
    meta = stored.get("metadata")
    if not isinstance(meta, dict):
        report.add(doc, ERROR, "metadata", "Required value", "add metadata.name")
        return None
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        report.add(doc, ERROR, "metadata.name", "Required value", "add the object's name")
    elif name is not None:
        problems: list[str] = []
        models.name_of(name, "metadata.name", problems)
        for problem in problems:
            report.add_problem(doc, problem, "metadata.name")
    if not crds.scoped(kind) and meta.get("namespace"):
        report.add(
            doc,
            WARNING,
            "metadata.namespace",
            f"a {kind} is cluster-scoped: the namespace is ignored",
            "remove metadata.namespace",
        )
    schemas.apply_defaults(stored, schema)
    pruned = schemas.prune(stored, schema)
    for path in pruned:
        parent, _, unknown = path.rpartition(".")
        if "[" in unknown:
            parent, unknown = path, path
        declared = _known_fields(schema, parent)
        todo = "remove it, or check its spelling"
        if declared:
            todo += f" (known here: {', '.join(declared)})"
        report.add(
            doc,
            ERROR,
            path,
            f'unknown field "{unknown}" (kubectl\'s strict field validation refuses it)',
            todo,
        )
    errors = schemas.validate(stored, schema)
    if not errors:
        errors = schemas.check_rules(stored, schema)
    emptied = {p.rpartition(".")[0] for p in pruned}
    for error in errors:
        if error.path in emptied and "properties" in error.message:
            continue  # left without a field by an unknown one: that one's message says it
        what = error.message.replace(f"{field_errors.named(error.path)} in body ", "")
        report.add(doc, ERROR, error.path or "spec", what)
    refused = [m.path for m in report.messages[before:] if m.severity == ERROR]
    return Found(doc, kind, stored, valid=not refused, refused=refused)


def _parse(report: Report, found: Found) -> None:
    """Ferry's own reading of the object (what its functions would make of it)."""
    problems: list[str] = []
    try:
        if found.kind == models.KIND:
            found.parsed = routers.checked(found.obj)
        elif found.kind in TEMPLATE_KINDS:
            found.parsed = validation.parse_template(found.obj)
        elif found.kind == model.RUN_KIND:
            found.parsed = validation.parse_run(found.obj)
        elif found.kind == experiments.KIND:
            found.parsed = experiments.parse(found.obj)
        elif found.kind == "WebhookPolicy":
            found.parsed = webhookpolicies.parse(found.obj)
    except models.InvalidSpec as exc:
        problems = list(exc.problems)
    except webhookpolicies.InvalidPolicy as exc:
        problems = [f"spec.{exc}"]
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        if found.refused:
            return  # a shape the API server refuses (it says so): Ferry never reads it
        problems = [
            f"spec: Ferry's parser failed on this object ({type(exc).__name__}: {exc}); this "
            "is a bug in Ferry: report it"
        ]
    if problems:
        found.valid = False
    for problem in problems:
        match = _PATH.match(problem)
        path = match.group(1) if match else "spec"
        if any(_related(path, other) for other in found.refused):
            continue  # the API server's error about the same field says it first
        report.add_problem(found.doc, problem, "spec")


# -- across the files: templates and their arguments ----------------------------------------


@dataclass(frozen=True)
class Uses:
    """An analysis of a Rollout or Experiment: the templates it names and the arguments it
    passes, and where (``where``: the analysis's path)."""

    where: str
    templates: tuple[models.TemplateRef, ...]
    args: tuple[models.AnalysisArg, ...]
    template_paths: tuple[str, ...]
    """The path of each template's name."""


def analyses_of(found: Found) -> list[Uses]:
    """Every analysis a valid Rollout or Experiment runs."""
    spec = found.parsed
    uses: list[Uses] = []

    def add(where: str, templates: Sequence[models.TemplateRef], args: Any, name: str) -> None:
        paths = tuple(f"{where}.templates[{i}].{name}" for i in range(len(templates)))
        uses.append(Uses(where, tuple(templates), tuple(args), paths))

    def experiment(where: str, analyses: Sequence[models.ExperimentAnalysis]) -> None:
        for i, analysis in enumerate(analyses):
            at = f"{where}.analyses[{i}]"
            uses.append(Uses(at, (analysis.template,), analysis.args, (f"{at}.templateName",)))

    if isinstance(spec, models.RolloutSpec):
        blue_green = spec.blue_green
        if blue_green is not None:
            where = f"spec.strategy.{models.BLUE_GREEN}"
            for key, analysis in (
                ("prePromotionAnalysis", blue_green.pre_promotion),
                ("postPromotionAnalysis", blue_green.post_promotion),
            ):
                if analysis is not None:
                    add(f"{where}.{key}", analysis.templates, analysis.args, "templateName")
        else:
            for i, step in enumerate(spec.steps):
                where = f"spec.strategy.canary.steps[{i}]"
                if isinstance(step, models.Analysis):
                    add(f"{where}.analysis", step.templates, step.args, "templateName")
                elif isinstance(step, models.Experiment):
                    experiment(f"{where}.experiment", step.analyses)
        background = spec.background_analysis
        if background is not None:
            where = "spec.strategy.canary.analysis"
            add(where, background.templates, background.args, "templateName")
    elif isinstance(spec, experiments.ExperimentSpec):
        experiment("spec", spec.analyses)
    return uses


def _namespace(found: Found) -> str | None:
    return (found.obj.get("metadata") or {}).get("namespace") or None


def find_template(
    objects: Sequence[Found], ref: models.TemplateRef, namespace: str | None
) -> Found | None:
    """The template ``ref`` names, among ``objects`` (a namespaced one in ``namespace``, when
    both say which)."""
    kind = model.CLUSTER_TEMPLATE_KIND if ref.cluster_scope else model.TEMPLATE_KIND
    for found in objects:
        if found.kind != kind or (found.obj.get("metadata") or {}).get("name") != ref.name:
            continue
        theirs = _namespace(found)
        if ref.cluster_scope or namespace is None or theirs is None or theirs == namespace:
            return found
    return None


def given_args(
    args: Sequence[models.AnalysisArg], owner: Obj, hashes: Callable[[str], str]
) -> tuple[list[model.Arg], list[tuple[int, str]]]:
    """The arguments an analysis passes, as an AnalysisRun gets them: values as given, a
    revision's pod template hash as ``hashes("Stable"|"Latest")`` says, a field of the owner
    read now (``arguments.field_value``); and each argument whose field could not be read."""
    given: list[model.Arg] = []
    failed: list[tuple[int, str]] = []
    for i, arg in enumerate(args):
        if arg.value is not None:
            value = arg.value
        elif arg.pod_template_hash is not None:
            value = hashes(arg.pod_template_hash)
        else:
            try:
                value = arguments.field_value(owner, arg.field_path or "")
            except (LookupError, ValueError) as exc:
                failed.append((i, str(exc.args[0]) if exc.args else str(exc)))
                continue
        given.append(model.Arg(arg.name, value=value))
    return given, failed


def _check_uses(report: Report, owner: Found, objects: Sequence[Found]) -> None:
    namespace = _namespace(owner)
    for use in analyses_of(owner):
        templates: list[model.Template] = []
        complete = True
        for ref, path in zip(use.templates, use.template_paths, strict=True):
            found = find_template(objects, ref, namespace)
            kind = model.CLUSTER_TEMPLATE_KIND if ref.cluster_scope else model.TEMPLATE_KIND
            if found is None:
                complete = False
                other = find_template(
                    objects, models.TemplateRef(ref.name, not ref.cluster_scope), namespace
                )
                todo = (
                    "create it before the analysis runs, or pass its file too to check its "
                    "arguments (Ferry looks for it in the cluster)"
                )
                if other is not None:
                    scope = "false" if ref.cluster_scope else "true"
                    todo = f"set clusterScope: {scope} (an {other.kind} {ref.name!r} is)"
                report.add(
                    owner.doc, WARNING, path, f"{kind} {ref.name!r} is not in these files", todo
                )
            elif not found.valid or not isinstance(found.parsed, model.Template):
                complete = False  # its own messages say why
            else:
                templates.append(found.parsed)
        if not complete:
            continue
        try:
            merged = validation.merge_templates(templates)
        except models.InvalidSpec as exc:
            for problem in exc.problems:
                report.add(owner.doc, ERROR, f"{use.where}.templates", problem)
            continue
        args_at = f"{use.where}.args"
        given, failed = given_args(use.args, owner.obj, lambda _: "0")
        for i, reason in failed:
            report.add(
                owner.doc,
                ERROR,
                f"{args_at}[{i}].valueFrom.fieldRef.fieldPath",
                f"cannot be read from this {owner.kind}: {reason}",
                "name a field the object has (e.g. metadata.name, metadata.labels['app'])",
            )
        if failed:
            continue
        declared = {a.name for a in merged.args}
        names = ", ".join(repr(t.name) for t in templates)
        for i, arg in enumerate(use.args):
            if arg.name not in declared:
                report.add(
                    owner.doc,
                    WARNING,
                    f"{args_at}[{i}].name",
                    f"argument {arg.name!r} is not declared by {names}: it is ignored",
                    "remove it, or declare it in the template's spec.args",
                )
        try:
            arguments.run_spec(merged, given)
        except arguments.ArgsError as exc:
            for problem in exc.problems:
                named = re.match(r"args\.(\S+?)(?::| was)", problem)
                wanted = named.group(1) if named else "NAME"
                report.add(
                    owner.doc,
                    ERROR,
                    args_at if use.args else use.where,
                    f"{names} requires argument {wanted!r}, which is not supplied",
                    f"add {{name: {wanted}, value: ...}} to {args_at}",
                )
            continue
        try:
            resolved = arguments.resolve_args(
                merged.args, given, secret=lambda n, k: "0", field=lambda p: "0"
            )
            validation.metrics(merged, resolved)
        except models.InvalidSpec as exc:
            for problem in exc.problems:
                report.add(
                    owner.doc,
                    ERROR,
                    args_at if use.args else use.where,
                    f"with these arguments, {names} is invalid: {problem}",
                    "pass values the template's metrics accept",
                )


# -- the whole run ---------------------------------------------------------------------------


def members(doc: Doc) -> Iterator[Doc]:
    """The objects of a document: itself, or the items of a ``v1`` ``List`` (of its ``items``
    written twice, the last, which PyYAML keeps; the key written twice is reported by
    :func:`check`)."""
    obj = doc.obj
    if (
        isinstance(obj, dict)
        and obj.get("kind") == "List"
        and obj.get("apiVersion") == "v1"
        and isinstance(obj.get("items"), list)
        and isinstance(doc.node, yaml.MappingNode)
    ):
        items = next(
            (v for k, v in reversed(doc.node.value) if getattr(k, "value", None) == "items"),
            None,
        )
        nodes = items.value if isinstance(items, yaml.SequenceNode) else []
        for i, item in enumerate(obj["items"]):
            yield Doc(doc.file, nodes[i] if i < len(nodes) else doc.node, item)
        return
    yield doc


def check(docs: Sequence[Doc], crds: Crds, report: Report | None = None) -> Report:
    """Every Ferry object of ``docs`` checked: schema, Ferry's parsing, then the templates its
    analyses name."""
    report = report if report is not None else Report()
    for doc in docs:
        for path, key, line in duplicate_keys(doc.node):  # a List's own keys, and its items'
            report.add(
                doc,
                ERROR,
                path,
                f"{key.value!r} is written twice (first at line {line}); kubectl refuses it",
                "keep one of them",
                at=key,
            )
        for member in members(doc):
            obj = member.obj
            if obj is None:
                continue
            if not isinstance(obj, dict):
                report.add(
                    member,
                    ERROR,
                    "document",
                    "a document must be a Kubernetes object (a mapping with apiVersion and kind)",
                    "write the object as a mapping, or remove the document",
                )
                continue
            api_version = obj.get("apiVersion")
            if not isinstance(api_version, str) or not obj.get("kind"):
                report.add(
                    member,
                    ERROR,
                    "apiVersion" if not isinstance(api_version, str) else "kind",
                    "an object needs apiVersion and kind",
                    "add them",
                )
                continue
            if api_version.rpartition("/")[0] != models.GROUP:
                report.skipped += 1
                continue
            found = _schema_check(report, member, obj, crds)
            if found is not None:
                _parse(report, found)
                report.objects.append(found)
    for found in report.objects:
        if found.valid and found.kind in (models.KIND, experiments.KIND):
            _check_uses(report, found, report.objects)
    report.messages.sort(key=lambda m: (m.file, m.line, m.column, m.path, m.what))
    return report


def files_of(names: Sequence[str]) -> list[str]:
    """The files named, a directory's ``*.yaml``, ``*.yml`` and ``*.json`` (not its
    subdirectories, as ``kubectl apply -f DIR``) in the place of the directory."""
    found: list[str] = []
    for name in names:
        path = Path(name)
        if name != STDIN and path.is_dir():
            found += sorted(
                str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json")
            )
        else:
            found.append(name)
    return found


def load(names: Sequence[str], stdin: TextIO | None = None) -> tuple[list[Doc], list[str]]:
    """The documents of every file (``-``: standard input, read once; a directory: its
    files), and a message for each file that cannot be read."""
    docs: list[Doc] = []
    unreadable: list[str] = []
    for name in files_of(names):
        try:
            docs += documents(name, read_text(name, stdin))
        except Unreadable as exc:
            unreadable.append(str(exc))
    return docs, unreadable


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("cy") else f"{count} {word}s"


def summary(report: Report, files: int) -> str:
    kinds: dict[str, int] = {}
    for found in report.objects:
        kinds[found.kind] = kinds.get(found.kind, 0) + 1
    shown = ", ".join(_plural(n, k) for k, n in sorted(kinds.items()))
    objects = _plural(len(report.objects), "Ferry object") + (f" ({shown})" if shown else "")
    parts = [_plural(files, "file"), objects]
    if report.skipped:
        parts.append(f"{_plural(report.skipped, 'other object')} skipped")
    if report.unreadable:
        parts.append(f"{_plural(len(report.unreadable), 'file')} unreadable")
    tally = f"{_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}"
    return f"lint: {'; '.join(parts)}: {tally}"


def crds_of(args: argparse.Namespace) -> Crds | None:
    """The CRDs that ``--crds`` names (by default :data:`CRDS`); None, said on stderr, when
    they cannot be read."""
    where = Path(args.crds) if args.crds else CRDS
    try:
        crds = Crds.load(where)
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: cannot read the CRDs in {where}: {exc}", file=sys.stderr)
        return None
    if not crds.by_kind:
        print(f"error: no {models.GROUP} CRD in {where} (--crds)", file=sys.stderr)
        return None
    return crds


def run(session: object, args: argparse.Namespace) -> int:
    """The command (``session`` is None: it needs no cluster; its options are in
    ``cli.kubectl_ferry.main``, which imports this module only to run it)."""
    crds = crds_of(args)
    if crds is None:
        return UNREADABLE
    docs, unreadable = load(args.files)
    report = check(docs, crds, Report(unreadable=unreadable))
    code = report.exit_code(warnings_as_errors=args.warnings_as_errors)
    if args.output == "json":
        shown = {
            "messages": [m.to_dict() for m in report.messages],
            "unreadable": unreadable,
            "errors": report.errors,
            "warnings": report.warnings,
            "objects": len(report.objects),
            "skipped": report.skipped,
            "exitCode": code,
        }
        print(json.dumps(shown, indent=2))
        return code
    for line in unreadable:
        print(line)
    for message in report.messages:
        print(message)
    print(summary(report, len(files_of(args.files))))
    return code
