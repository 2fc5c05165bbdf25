"""``kubectl ferry lint`` and ``kubectl ferry plan``: the real ``kubectl-ferry`` executable run
on files, no cluster anywhere.

- lint: every example in knative/examples/ is clean, alone and all together; each seeded
  mistake (a bad duration, a weight of 120, an unknown step, a template not in the files, an
  argument not supplied, bad YAML, a wrong type, a key written twice, a step the router
  cannot do, an unknown kind; a ``List``'s ``items`` written twice) is reported at its
  FILE:LINE:COLUMN with the field's path, what is wrong and what to do, with exit 1 for
  errors, 0 for warnings (1 with --warnings-as-errors) and 2 for a file that cannot be read
  or is not YAML; standard input (``-``) and directories are read; other kinds are counted,
  not checked;
- plan: the canary example's steps, splits, minimum time and ingress-nginx annotations; the
  Gateway API, Istio and SMI examples' weights; an analysis's query rendered from the step's
  arguments with its template from another file, and its time as Ferry schedules it; ``-o
  json``; several Rollouts need --name; an invalid Rollout is not planned;
- a Hypothesis test: lint never fails with a traceback, whatever YAML it is given, keys
  written twice (a ``List``'s ``items`` among them) included.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.kubectl_ferry import lint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "knative" / "examples").glob("*.yaml"))
KUBECTL_FERRY = Path(sys.executable).parent / "kubectl-ferry"


def ferry(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``kubectl-ferry args...`` (the executable kubectl runs as ``kubectl ferry``)."""
    return subprocess.run(
        [str(KUBECTL_FERRY), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


ROLLOUT = """\
apiVersion: ferry.dev/v1alpha1
kind: Rollout
metadata:
  name: podinfo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    name: podinfo
    port: 9898
  trafficRouting:
    nginx:
      stableIngress: podinfo
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause:
            duration: 30s
        - setWeight: 50
        - pause: {}
"""

TEMPLATE = """\
apiVersion: ferry.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
    - name: service
    - name: threshold
      value: "0.95"
  metrics:
    - name: success
      interval: 1m
      count: 3
      successCondition: result[0] >= {{args.threshold}}
      provider:
        prometheus:
          address: http://prometheus.monitoring:9090
          query: >-
            sum(rate(requests{service="{{args.service}}",code!~"5.."}[1m]))
            / sum(rate(requests{service="{{args.service}}"}[1m]))
"""

ANALYSIS_STEP = """\
        - analysis:
            templates:
              - templateName: success-rate
            args:
              - name: service
                value: podinfo-canary
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def marked(text: str) -> tuple[str, int]:
    """``text`` without its ``#!`` marker, and the line (1-based) that carried it."""
    lines = text.splitlines()
    (line,) = [i + 1 for i, t in enumerate(lines) if "#!" in t]
    return text.replace("  #!", "").replace("#!", ""), line


def messages(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("lint: ")]


# -- lint: the examples ----------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_lints_clean(path: Path) -> None:
    done = ferry("lint", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert messages(done.stdout) == []
    assert done.stdout.strip().endswith(": 0 errors, 0 warnings")


def test_the_examples_lint_clean_together_and_as_a_directory() -> None:
    done = ferry("lint", "--warnings-as-errors", *map(str, EXAMPLES))
    assert done.returncode == 0, done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"lint: {len(EXAMPLES)} files; ")
    assert "10 Rollouts" in summary and "3 WebhookPolicies" in summary
    assert "other objects skipped" in summary  # Deployments, HTTPRoutes, ConfigMaps...
    by_directory = ferry("lint", str(ROOT / "knative" / "examples"))
    assert by_directory.returncode == 0
    assert by_directory.stdout == done.stdout


# -- lint: seeded mistakes -------------------------------------------------------------------


SEEDS: list[tuple[str, str, str, list[str], int]] = [
    # id, text with a #! marker on the offending line, path, what the message says, exit
    (
        "bad-duration",
        ROLLOUT.replace("duration: 30s", "duration: 3x  #!"),
        "spec.strategy.canary.steps[1].pause.duration",
        ['Invalid value: "3x"', "write a duration like 30s, 5m or 1h30m"],
        1,
    ),
    (
        "weight-120",
        ROLLOUT.replace("- setWeight: 50", "- setWeight: 120  #!"),
        "spec.strategy.canary.steps[2].setWeight",
        ["Invalid value: 120: should be less than or equal to 100", "use at most 100"],
        1,
    ),
    (
        "unknown-step",
        ROLLOUT.replace("        - pause: {}", "        - pause: {}\n        - promote: true  #!"),
        "spec.strategy.canary.steps[4].promote",
        ['unknown field "promote"', "known here: analysis, experiment, load, pause"],
        1,
    ),
    (
        "wrong-type",
        ROLLOUT.replace("port: 9898", 'port: "9898"  #!'),
        "spec.service.port",
        ["must be of type integer", "write it as an integer"],
        1,
    ),
    (
        "key-twice",
        ROLLOUT.replace("    port: 9898", "    port: 9898\n    port: 80  #!"),
        "spec.service.port",
        ["'port' is written twice (first at line 12)", "keep one of them"],
        1,
    ),
    (
        "missing-template",
        ROLLOUT.replace(
            "        - pause: {}",
            "        - analysis:\n            templates:\n              - templateName: nope  #!",
        ),
        "spec.strategy.canary.steps[3].analysis.templates[0].templateName",
        ["warning:", "AnalysisTemplate 'nope' is not in these files", "pass its file too"],
        0,
    ),
    (
        "missing-arg",
        ROLLOUT.replace("        - pause: {}", ANALYSIS_STEP)
        .replace("            args:\n", "            args:  #!\n")
        .replace(
            "              - name: service\n                value: podinfo-canary\n",
            '              - name: threshold\n                value: "0.9"\n',
        )
        + "---\n"
        + TEMPLATE,
        "spec.strategy.canary.steps[3].analysis.args",
        ["'success-rate' requires argument 'service', which is not supplied", "add {name: service"],
        1,
    ),
    (
        "router-cannot",
        ROLLOUT.replace("    nginx:\n      stableIngress: podinfo", "    smi: {}").replace(
            "        - pause: {}",
            "        - setHeaderRoute:  #!\n            name: beta\n            match:\n"
            "              - headerName: X-Beta\n                headerValue: {exact: 'yes'}",
        ),
        "spec.strategy.canary.steps[3].setHeaderRoute",
        [
            "the smi router cannot route by header",
            "use a router that can (gatewayAPI, istio, nginx)",
        ],
        1,
    ),
    (
        "unknown-kind",
        ROLLOUT.replace("kind: Rollout", "kind: Rollot  #!"),
        "kind",
        ["ferry.dev has no kind 'Rollot'", "use one of AnalysisRun, AnalysisTemplate"],
        1,
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "said", "code"), [s[1:] for s in SEEDS], ids=[s[0] for s in SEEDS]
)
def test_a_seeded_mistake_is_reported_at_its_line(
    tmp_path: Path, text: str, path: str, said: list[str], code: int
) -> None:
    text, line = marked(text)
    file = write(tmp_path, "rollout.yaml", text)
    done = ferry("lint", "rollout.yaml", cwd=tmp_path)
    assert done.returncode == code, done.stdout + done.stderr
    found = [m for m in messages(done.stdout) if f": {path}: " in m]
    assert len(found) == 1, done.stdout
    (message,) = found
    severity = "warning" if code == 0 else "error"
    column = len(text.splitlines()[line - 1]) - len(text.splitlines()[line - 1].lstrip(" -")) + 1
    assert message.startswith(f"rollout.yaml:{line}:{column}: {severity}: {path}: "), message
    assert " — " in message
    for words in said:
        assert words in message, message
    if code == 0:
        strict = ferry("lint", "--warnings-as-errors", str(file))
        assert strict.returncode == 1


def test_a_list_whose_items_are_written_twice_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    # PyYAML keeps the last ``items`` (kubectl refuses the file): that one's objects are checked
    kept = ROLLOUT.replace("setWeight: 50", "setWeight: 120").replace("\n", "\n    ")
    text = f"apiVersion: v1\nkind: List\nitems: []\nitems:\n  - {kept.rstrip()}\n"
    write(tmp_path, "list.yaml", text)
    done = ferry("lint", "list.yaml", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert messages(done.stdout) == [
        "list.yaml:4:1: error: items: 'items' is written twice (first at line 3); kubectl "
        "refuses it — keep one of them",
        "list.yaml:26:15: error: spec.strategy.canary.steps[2].setWeight: Invalid value: 120: "
        "should be less than or equal to 100 — use at most 100",
    ]


def test_bad_yaml_is_reported_at_its_line_with_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", ROLLOUT)
    write(tmp_path, "bad.yaml", ROLLOUT.replace("  service:\n", "  service: [\n"))
    done = ferry("lint", "good.yaml", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    (message,) = messages(done.stdout)
    assert message.startswith("bad.yaml:12:"), message
    assert "error: not valid YAML" in message and "— fix the YAML syntax" in message
    assert "1 file unreadable" in done.stdout


def test_a_missing_file_exits_2_and_the_others_are_still_checked(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", ROLLOUT.replace("setWeight: 50", "setWeight: 120"))
    done = ferry("lint", "nowhere.yaml", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "nowhere.yaml: cannot read it: No such file or directory" in done.stdout
    assert "bad.yaml:22:11: error: spec.strategy.canary.steps[2].setWeight" in done.stdout


def test_stdin_is_read_and_other_kinds_are_counted_not_checked() -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: podinfo}\nspec: {nonsense: 1}\n"
    done = ferry(
        "lint", "-", stdin=ROLLOUT.replace("setWeight: 50", "setWeight: 120") + "---\n" + service
    )
    assert done.returncode == 1
    (message,) = messages(done.stdout)
    assert message.startswith("<stdin>:22:11: error: spec.strategy.canary.steps[2].setWeight")
    assert done.stdout.strip().endswith(
        "lint: 1 file; 1 Ferry object (1 Rollout); 1 other object skipped: 1 error, 0 warnings"
    )


def test_a_template_given_in_another_file_is_found_and_its_arguments_checked(
    tmp_path: Path,
) -> None:
    write(tmp_path, "rollout.yaml", ROLLOUT.replace("        - pause: {}", ANALYSIS_STEP))
    write(tmp_path, "templates.yaml", TEMPLATE)
    done = ferry("lint", "rollout.yaml", "templates.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert messages(done.stdout) == []
    alone = ferry("lint", "rollout.yaml", cwd=tmp_path)
    assert alone.returncode == 0
    assert (
        "warning: spec.strategy.canary.steps[3].analysis.templates[0].templateName" in alone.stdout
    )


# -- plan ------------------------------------------------------------------------------------


def test_plan_of_the_canary_example() -> None:
    done = ferry("plan", str(ROOT / "knative" / "examples" / "rollout.yaml"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert lines[:5] == [
        "Name:       podinfo",
        "Namespace:  default",
        "Strategy:   canary, 4 steps",
        "Router:     nginx",
        # ingress-nginx's canary Ingress copies the stable Ingress's rules: without it, none
        "Stand-ins:  Ingress podinfo: not in these files, so the canary Ingress is shown "
        "without the hosts and paths it copies from it (pass its file too)",
    ]
    steps = [line.split(None, 1)[1] for line in lines if line[:5].strip().rstrip(".").isdigit()]
    assert [s.split("  ")[0] for s in steps] == [
        "setWeight 20%",
        "pause 30s",
        "setWeight 50%",
        "pause (until promoted)",
    ]
    assert "canary 20%, stable 80%" in steps[0] and "at 0s" in steps[0]
    assert "at 0s" in steps[1] and "30s" in steps[1]
    assert "canary 50%, stable 50%" in steps[2] and "at 30s" in steps[2]
    assert "until promoted" in steps[3]
    assert (
        "Ingress podinfo-canary: nginx.ingress.kubernetes.io/canary=true, "
        "nginx.ingress.kubernetes.io/canary-weight=20"
    ) in out
    assert "nginx.ingress.kubernetes.io/canary-weight=50" in out
    assert "Promotion:  at 30s:" in out and "canary 0%, stable 100%" in out
    assert "Minimum time: 30s, plus what has no end of its own:" in out
    assert "step 4: the pause until promoted (kubectl ferry promote podinfo)" in out


@pytest.mark.parametrize(
    ("example", "at_20"),
    [
        ("gatewayapi.yaml", "rule 0: podinfo-primary=80, podinfo-canary=20"),
        ("istio.yaml", "http[primary]: podinfo-primary=80, podinfo-canary=20"),
        ("istio-subsets.yaml", "http[primary]: podinfo/stable=80, podinfo/canary=20"),
        (
            "smi.yaml",
            "TrafficSplit podinfo (service podinfo): podinfo-primary=80, podinfo-canary=20",
        ),
    ],
)
def test_plan_shows_what_each_router_writes(example: str, at_20: str) -> None:
    done = ferry("plan", str(ROOT / "knative" / "examples" / example))
    assert done.returncode == 0, done.stderr
    assert at_20 in done.stdout
    assert "Stand-ins" not in done.stdout  # the example's own route is used
    if example == "istio.yaml":
        assert "http[docs]: docs" in done.stdout  # the user's other route, untouched


DEPLOYMENT = """\
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 2
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec: {containers: [{name: podinfo, image: podinfo:6.0.0}]}
"""


@pytest.mark.parametrize(
    ("replicas", "target", "stable"),
    [("", "2", 2), ("  replicas: 4\n", "2", 4), ("", "0", 1)],
    ids=["the-target's", "spec.replicas", "at-least-one"],
)
def test_plan_counts_the_stable_pods_as_ferry_creates_them(
    tmp_path: Path, replicas: str, target: str, stable: int
) -> None:
    # without a traffic router a weight is a share of the primary's replicas: spec.replicas
    # when set, else the target's (at least 1), as initialize creates the primary
    rollout = ROLLOUT.replace("  trafficRouting:\n    nginx:\n      stableIngress: podinfo\n", "")
    rollout = rollout.replace("spec:\n  targetRef:", f"spec:\n{replicas}  targetRef:")
    deployment = DEPLOYMENT.replace("replicas: 2", f"replicas: {target}")
    write(tmp_path, "rollout.yaml", rollout + deployment)
    done = ferry("plan", "rollout.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    at_20, at_50 = math.ceil(stable * 0.2), math.ceil(stable * 0.5)
    assert f"(the canary runs {at_20} Pods beside the stable {stable})" in done.stdout
    assert f"(the canary runs {at_50} Pods beside the stable {stable})" in done.stdout


def test_plan_says_what_stands_in_for_a_route_not_in_the_files(tmp_path: Path) -> None:
    example = (ROOT / "knative" / "examples" / "gatewayapi.yaml").read_text()
    rollout = next(d for d in example.split("---\n") if "kind: Rollout" in d)
    write(tmp_path, "rollout.yaml", rollout)
    done = ferry("plan", "rollout.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "Stand-ins:  HTTPRoute podinfo: not in these files, so a minimal one sending all traffic "
        "to the stable revision stands in for it (pass its file too)"
    ) in done.stdout.splitlines()
    assert "rule 0: podinfo-primary=80, podinfo-canary=20" in done.stdout


def test_plan_shows_the_traffic_gate_before_each_raise_only(tmp_path: Path) -> None:
    # the gate stands where Ferry holds a move (shared.moves): a setWeight above the weight
    steps = "        - setWeight: 30\n        - setWeight: 60\n"
    text = ROLLOUT.replace("        - pause: {}\n", "        - pause: {}\n" + steps)
    text += "  webhooks:\n    - name: more\n      type: confirm-traffic-increase\n"
    write(tmp_path, "rollout.yaml", text)
    done = ferry("plan", "rollout.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    gated = re.findall(r"gate: confirm-traffic-increase more: .*\n +(\d+)\. ", done.stdout)
    assert gated == ["1", "3", "6"]  # not step 5: 50% down to 30%


def test_plan_json(tmp_path: Path) -> None:
    done = ferry("plan", "-o", "json", str(ROOT / "knative" / "examples" / "rollout.yaml"))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["name"] == "podinfo" and plan["router"] == "nginx"
    assert [s["kind"] for s in plan["steps"]] == ["setWeight", "pause", "setWeight", "pause"]
    assert plan["steps"][0]["split"] == {"canary": 20, "stable": 80}
    (ingress,) = plan["steps"][0]["routing"]
    annotations = ingress["object"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "20"
    assert ingress["standIn"] == "Ingress podinfo"
    assert plan["steps"][1]["minimumSeconds"] == 30
    assert plan["steps"][3]["minimumSeconds"] is None
    assert plan["minimumSeconds"] == 30 and plan["bounded"] is False


def test_plan_renders_an_analysis_from_the_templates_given(tmp_path: Path) -> None:
    write(tmp_path, "rollout.yaml", ROLLOUT.replace("        - pause: {}", ANALYSIS_STEP))
    write(tmp_path, "templates.yaml", TEMPLATE)
    done = ferry("plan", "rollout.yaml", "templates.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "4. analysis success-rate" in out
    assert "args: service=podinfo-canary, threshold=0.95" in out
    assert 'query: sum(rate(requests{service="podinfo-canary",code!~"5.."}[1m]))' in out
    # three measurements a minute apart: done when the third is taken, two minutes in
    assert "success: prometheus, 3 times, every 1m; done after 2m" in out
    assert "Minimum time: 2m30s" in out
    plan = json.loads(
        ferry("plan", "-o", "json", "rollout.yaml", "templates.yaml", cwd=tmp_path).stdout
    )
    (metric,) = plan["steps"][3]["analysis"]["metrics"]
    assert metric["prometheus"]["query"].startswith('sum(rate(requests{service="podinfo-canary"')
    assert plan["minimumSeconds"] == 150 and plan["bounded"] is True


def test_plan_needs_a_name_among_several_rollouts_and_refuses_an_invalid_one(
    tmp_path: Path,
) -> None:
    other = ROLLOUT.replace("name: podinfo\nspec", "name: other\nspec")
    write(tmp_path, "two.yaml", ROLLOUT + "---\n" + other)
    done = ferry("plan", "two.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "several Rollouts (other, podinfo): choose one with --name" in done.stderr
    chosen = ferry("plan", "two.yaml", "--name", "other", cwd=tmp_path)
    assert chosen.returncode == 0 and chosen.stdout.startswith("Name:       other\n")
    write(tmp_path, "bad.yaml", ROLLOUT.replace("setWeight: 50", "setWeight: 120"))
    refused = ferry("plan", "bad.yaml", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "bad.yaml:22:11: error: spec.strategy.canary.steps[2].setWeight" in refused.stderr
    assert "Ferry would refuse Rollout 'podinfo'" in refused.stderr


def test_plan_of_the_experiment_step_counts_its_duration() -> None:
    done = ferry("plan", str(ROOT / "knative" / "examples" / "experiment-step.yaml"))
    assert done.returncode == 0, done.stderr
    assert "2. experiment baseline=stable, canary=canary for 1h" in done.stdout
    assert "analysis mann-whitney (mann-whitney):" in done.stdout
    assert "Minimum time: 1h10m\n" in done.stdout + "\n"


# -- lint never tracebacks -------------------------------------------------------------------

CRDS = lint.Crds.load(lint.CRDS)
EXAMPLE_ROLLOUT = yaml.safe_load(ROLLOUT)
lint.check(lint.documents("warm.yaml", ROLLOUT), CRDS)  # the CEL library raises the recursion
# limit when it first runs: before Hypothesis starts, which warns of a limit changed under it
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["30s", "5m", "x", "", "{{args.a}}", "Stable", "setWeight", "pause"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["setWeight", "templates", "args"])),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def _mutated(base: Any, path: list[int], value: Any) -> Any:
    """``base`` with the subtree that ``path`` picks (by index, modulo) replaced by ``value``."""
    out = copy.deepcopy(base)
    node: Any = out
    for step in path:
        if isinstance(node, dict) and node:
            key = sorted(node)[step % len(node)]
            if not isinstance(node[key], dict | list) or step % 3 == 0:
                node[key] = value
                return out
            node = node[key]
        elif isinstance(node, list) and node:
            index = step % len(node)
            if not isinstance(node[index], dict | list) or step % 3 == 0:
                node[index] = value
                return out
            node = node[index]
    return out


def _lint(text: str) -> None:
    try:
        docs = lint.documents("fuzz.yaml", text)
    except lint.Unreadable:
        return
    report = lint.check(docs, CRDS)
    for message in report.messages:
        assert str(message).startswith("fuzz.yaml:")
        assert " — " in str(message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_lint_never_fails_on_any_yaml(value: Any) -> None:
    _lint(yaml.safe_dump(value))
    _lint(yaml.safe_dump({"apiVersion": "ferry.dev/v1alpha1", "kind": "Rollout", "spec": value}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), values)
def test_lint_never_fails_on_a_mutated_rollout(path: list[int], value: Any) -> None:
    rollout = _mutated(EXAMPLE_ROLLOUT, path, value)
    template = _mutated(yaml.safe_load(TEMPLATE), path, value)
    _lint(yaml.safe_dump_all([rollout, template]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.just(EXAMPLE_ROLLOUT), values), max_size=3),
    st.lists(st.one_of(st.just(EXAMPLE_ROLLOUT), values), max_size=3),
    st.integers(0, 200),
)
def test_lint_never_fails_on_a_key_written_twice(
    first: list[Any], last: list[Any], line: int
) -> None:
    # a List's items written twice (PyYAML keeps the last), then one line of a List written twice
    head = "apiVersion: v1\nkind: List\n"
    _lint(head + yaml.safe_dump({"items": first}) + yaml.safe_dump({"items": last}))
    lines = (head + yaml.safe_dump({"items": last})).splitlines(keepends=True)
    at = line % len(lines)
    _lint("".join(lines[: at + 1] + lines[at:]))


def test_plan_shows_the_rules_a_header_or_mirror_route_adds(tmp_path: Path) -> None:
    example = (ROOT / "knative" / "examples" / "gatewayapi.yaml").read_text()
    routes = """\
        - setHeaderRoute:
            name: beta
            match:
              - headerName: X-Beta
                headerValue: {exact: "yes"}
        - setMirrorRoute:
            name: shadow
            percentage: 10
            match:
              - method: {exact: GET}
        - setWeight: 50
        - setHeaderRoute: {name: beta}
"""
    write(tmp_path, "rollout.yaml", example.replace("        - setWeight: 50\n", routes))
    done = ferry("plan", "rollout.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    steps = re.split(r"\n +(?=\d+\. )", done.stdout)
    (header,) = [s for s in steps if s.startswith("3. setHeaderRoute beta")]
    assert "ferry-beta-0: podinfo-canary (X-Beta Exact yes)" in header
    assert "rule 1: podinfo-primary=80, podinfo-canary=20" in header
    (mirror,) = [s for s in steps if s.startswith("4. setMirrorRoute shadow")]
    assert "(mirror 10% to podinfo-canary)" in mirror
    (removed,) = [s for s in steps if s.startswith("6. setHeaderRoute beta (removed)")]
    assert "ferry-beta-0" not in removed and "ferry-shadow-0" in removed


def test_lint_json(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", ROLLOUT.replace("setWeight: 50", "setWeight: 120"))
    done = ferry("lint", "-o", "json", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 1
    found = json.loads(done.stdout)
    (message,) = found["messages"]
    assert message["file"] == "bad.yaml" and (message["line"], message["column"]) == (22, 11)
    assert message["severity"] == "error"
    assert message["path"] == "spec.strategy.canary.steps[2].setWeight"
    assert message["fix"] == "use at most 100"
    assert (found["errors"], found["warnings"], found["exitCode"]) == (1, 0, 1)
