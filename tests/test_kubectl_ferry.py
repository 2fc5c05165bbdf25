"""``kubectl ferry``, run through the real kubectl's plugin mechanism against real API servers.

kubectl refuses flags placed before a plugin's name, so every run is ``kubectl ferry
--kubeconfig <file> ...``. Aspects covered:
- usage: the help lists the commands and the exit codes; a wrong command exits 5; a command
  for a cluster (and the hidden one completion runs) imports neither lint, plan nor shtab;
- ``get rollout``'s Analysis section from the tree's AnalysisRuns: each metric's last
  measurement (its message too), and why the runs are missing when they cannot be listed;
- reading, on the whole local runtime (``ferry up``): ``list rollouts`` (and ``-A``), ``get
  rollout`` (steps marked done / current / failed, pause conditions, history), ``history``
  (Ferry's entries and the Rollout's Warning Events), ``get -w`` redrawing every change and
  stopping on Ctrl-C or ``--timeout``; ``status`` exits 0 on a Healthy rollout, 1 on a
  Degraded one (a canary that never gets ready, with progressDeadlineAbort), 2 on a rollout
  paused indefinitely;
- the command protocol, on the simulator without Ferry: the command is appended to
  ``status.commands`` (id, action, full, user, time; at most 20 kept), concurrent commands are
  all recorded (conflicts re-read and retried), the spec and generation stay untouched, and a
  command nobody answers exits 3 with what to check;
- the command round trips with Ferry: promote out of an indefinite pause (and ``--full``),
  abort then retry, pause then resume, a refused command exiting 1; after each, Ferry's
  answer is printed and the spec is byte-for-byte unchanged;
- connection: the namespace defaults to the context's, ``$KUBECONFIG`` and ``--context`` are
  honoured, options work after the subcommand;
- errors say what to do next: rollout not found, no rollouts, unknown context, cluster
  unreachable, and a 403 naming the missing permission (from a stand-in API server that
  authorizes like RBAC, which the simulator does not model), which also serves a
  SelfSubjectReview to tell who the user is.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from cli.kubectl_ferry import trees, views
from local import demo
from local.runtime import KNATIVE_DIR, Runtime
from local.sim.cluster import Simulator
from shared import configs, models
from shared.kube import Kube
from shared.state import Stage
from tests.flow.conftest import Demo, Recorder, eventually, kube, podinfo, runtime  # noqa: F401

BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl")
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
ENV.pop("KUBECONFIG", None)
USER = "alice"
Obj = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------


def ferry(
    config: Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``kubectl ferry [--kubeconfig config] args...``."""
    assert KUBECTL, "kubectl must be installed for the tests"
    options = ["--kubeconfig", str(config)] if config else []
    return subprocess.run(
        [KUBECTL, "ferry", *options, *args],
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_alice(sim: Simulator, path: Path, *, namespace: str = "default") -> Path:
    """A kubeconfig for the simulator in which alice proves who she is with a token (she may
    do anything: ``system:masters``); the API server tells kubectl ferry her name."""
    token = sim.add_user(USER, ["system:masters"])
    return sim.write_kubeconfig(path, token=token, user=USER, namespace=namespace)


def write_kubeconfig(
    path: Path, server: str, *, namespace: str = "default", user: str = USER
) -> Path:
    """A kubeconfig for ``server`` whose context's user entry is ``user``: the name Ferry's
    commands carry when the API server serves no SelfSubjectReview."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": user, "user": {}}],
                "contexts": [
                    {
                        "name": "main",
                        "context": {"cluster": "c", "user": user, "namespace": namespace},
                    }
                ],
                "current-context": "main",
            }
        )
    )
    return path


@pytest.fixture
def config(runtime: Runtime, tmp_path: Path) -> Path:  # noqa: F811
    """A kubeconfig for the runtime's cluster, as the user alice."""
    assert runtime.sim is not None
    return as_alice(runtime.sim, tmp_path / "kubeconfig")


def rollout_of(k8s: Kube, name: str = demo.NAME, namespace: str = demo.NAMESPACE) -> Obj:
    found = k8s.rollout(namespace, name)
    assert found is not None
    return found


def spec_of(k8s: Kube, name: str = demo.NAME, namespace: str = demo.NAMESPACE) -> tuple[str, int]:
    """The Rollout's spec as canonical JSON, and its generation: what Git owns."""
    obj = rollout_of(k8s, name, namespace)
    return json.dumps(obj["spec"], sort_keys=True), int(obj["metadata"]["generation"])


def status_of(k8s: Kube) -> Obj:
    return dict(rollout_of(k8s).get("status") or {})


def answer(k8s: Kube, command_id: str) -> Obj:
    """The history entry that answers a command (Ferry prunes the commands it consumed from
    status.commands; the history keeps who asked and what came of it)."""
    status = status_of(k8s)
    assert all(c["id"] != command_id for c in status.get("commands") or []), "not pruned"
    (found,) = [h for h in status.get("history") or [] if h.get("command") == command_id]
    return dict(found)


def check_recorded(command: Obj, action: str, *, full: bool | None = None) -> None:
    """A command entry as the protocol says: a uuid4 id, the action, the user, a recent time."""
    assert uuid.UUID(command["id"]).version == 4
    assert command["action"] == action and command["user"] == USER
    assert command.get("full") == full
    when = datetime.fromisoformat(command["time"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60


def act(config: Path, k8s: Kube, *args: str) -> tuple[subprocess.CompletedProcess[str], Obj]:
    """Run a manual action, check that it left the spec (and generation) alone, and return
    the command it wrote as the API server stored it (seen through a watch on the Rollout:
    Ferry prunes it once consumed)."""
    before = spec_of(k8s)
    with Recorder(k8s, models.API_VERSION, models.PLURAL, demo.NAME) as rollout:
        listed_before = {c["id"] for c in status_of(k8s).get("commands") or []}
        proc = ferry(config, *args)
    assert spec_of(k8s) == before, f"{args}: the spec changed"
    written = [
        command
        for version in rollout.versions()
        for command in (version.get("status") or {}).get("commands") or []
        if command["id"] not in listed_before
    ]
    assert written, "no command was recorded"
    return proc, dict(written[-1])


def paused_indefinitely(podinfo: Demo, steps: list[Obj]) -> str:  # noqa: F811
    """podinfo Healthy, then a new image paused at its first indefinite pause; the revision."""
    podinfo.create(steps=steps)
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, canary_revision=revision)
    eventually(lambda: status_of(podinfo.kube).get("phase") == "Paused", what="status Paused")
    return revision


# -- usage -----------------------------------------------------------------------------------


def test_help_lists_the_commands_and_the_exit_codes() -> None:
    proc = ferry(None, "--help")
    assert proc.returncode == 0, proc.stderr
    commands = (
        "get",
        "list",
        "promote",
        "abort",
        "retry",
        "pause",
        "resume",
        "confirm",
        "restart",
        "status",
        "history",
        "version",
        "completion",
    )
    for command in commands:
        assert re.search(rf"^\s+{command}\s", proc.stdout, re.M), command
    assert "exit codes:" in proc.stdout
    for code in range(6):
        assert re.search(rf"^\s+{code}\s+\S", proc.stdout, re.M), code
    assert ferry(None, "version").stdout.startswith("kubectl-ferry ")
    wrong = ferry(None, "rollback", "podinfo")
    assert wrong.returncode == 5 and "invalid choice" in wrong.stderr


@pytest.mark.parametrize(
    "args", [["__rollouts"], ["history", "podinfo"], ["version"]], ids=lambda a: a[0]
)
def test_a_cluster_command_imports_neither_lint_plan_nor_shtab(
    tmp_path: Path, args: list[str]
) -> None:
    # the offline commands' parsers and shtab take ~250 ms to import: the hidden command that
    # a completion runs on each <TAB>, and every command for a cluster, start without them
    program = (
        "import sys\n"
        "from cli.kubectl_ferry import main\n"
        "main.main([*sys.argv[2:], '--kubeconfig', sys.argv[1]])\n"
        "heavy = {'cli.kubectl_ferry.lint', 'cli.kubectl_ferry.plan', 'shtab'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "no-kubeconfig"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr


def test_get_shows_each_metrics_last_measurement_and_why_runs_are_missing() -> None:
    """The Analysis section of ``get rollout``, from the tree's AnalysisRuns (pure)."""
    name = "web-bbbbbbb-1-1"
    rollout: Obj = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"strategy": {"canary": {"steps": [{"analysis": {}}]}}},
        "status": {
            "canaryRevision": "bbbbbbbbbb",
            "analysis": [{"name": name, "kind": "step", "phase": "Running"}],
        },
    }
    last = {"phase": "Error", "startedAt": "2026-01-01T00:00:00Z", "message": "refused"}
    run = {
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Running",
            "metricResults": [
                {"name": "errors", "phase": "Running", "error": 1, "measurements": [last]}
            ],
        },
    }
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def shown(runs: list[Obj], warnings: list[str]) -> tuple[list[str], str]:
        """The Analysis section's lines, and the view's last line."""
        tree = trees.build(
            rollout,
            target=None,
            primary=None,
            replicasets=[],
            pods=[],
            runs=runs,
            target_revision=None,
            warnings=warnings,
        )
        out = views.rollout_view(rollout, tree, now)
        section = out.split("\nAnalysis:\n", 1)[1].split("\nHistory", 1)[0]
        return section.splitlines(), out.splitlines()[-1]

    lines, _ = shown([run], [])
    assert lines == [
        f"  {name} (step)  Running",
        "    errors  Running  last: Error at 2026-01-01T00:00:00Z (refused)",
    ]
    forbidden = "cannot list analysisruns (403): forbidden"
    lines, end = shown([], [forbidden])
    assert lines == [f"  {name} (step)  Running"] and end == f"({forbidden})"


# -- reading, on the whole runtime -----------------------------------------------------------


def test_a_healthy_rollout_is_listed_shown_and_done(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    podinfo.create()
    stable = podinfo.wait(Stage.HEALTHY).stable_revision
    eventually(lambda: status_of(podinfo.kube).get("phase") == "Healthy", what="status Healthy")

    listed = ferry(config, "list", "rollouts")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY", "AGE"]
    assert row.split()[:6] == ["podinfo", "Healthy", "4/4", "0%", stable, "-"]
    everywhere = ferry(config, "list", "rollouts", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert everywhere[1].split()[:3] == ["default", "podinfo", "Healthy"]

    shown = ferry(config, "get", "rollout", "podinfo")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^Phase:\s+Healthy", shown.stdout, re.M)
    assert re.search(rf"^Stable:\s+{stable}$", shown.stdout, re.M)
    assert re.search(r"^Canary:\s+-$", shown.stdout, re.M)
    steps = re.findall(r"^  (.)\s+\d\. (.*)$", shown.stdout, re.M)
    assert steps == [
        ("✔", "setWeight 20%"),
        ("✔", "pause 2s"),
        ("✔", "setWeight 50%"),
        ("✔", "pause 2s"),
    ]
    assert "initialized" in shown.stdout.split("History", 1)[1]

    history = ferry(config, "history", "podinfo")
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[0].split() == ["TIME", "SOURCE", "WHAT"]
    assert re.search(r"^\S+Z\s+ferry\s+initialized: ", history.stdout, re.M)

    done = ferry(config, "status", "podinfo", "--timeout", "10s")
    assert done.returncode == 0, done.stderr
    assert f"rollout podinfo is Healthy: revision {stable} is stable" in done.stdout


def test_route_steps_are_shown_in_words(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    testers = {
        "name": "testers",
        "match": [{"headerName": "X-Canary", "headerValue": {"exact": "1"}}],
    }
    steps: list[Obj] = [
        {"setWeight": 20},
        {"setHeaderRoute": testers},
        {"pause": {}},
        {"setHeaderRoute": {"name": "testers"}},
    ]
    paused_indefinitely(podinfo, steps)
    shown = ferry(config, "get", "ro", "podinfo").stdout
    assert re.findall(r"^  (.)\s+\d\. (.*)$", shown, re.M) == [
        ("✔", "setWeight 20%"),
        ("✔", "setHeaderRoute testers: X-Canary = 1 -> canary"),
        ("▶", "pause (until promoted)"),
        (" ", "setHeaderRoute testers (removed)"),
    ]
    mirror = {
        "name": "shadow",
        "percentage": 30,
        "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}],
    }
    cookie = {"setCookieRoute": {"name": "beta", "cookieName": "canary"}}
    assert views.describe_step(cookie) == "setCookieRoute beta: cookie canary=always -> canary"
    assert views.describe_step({"setMirrorRoute": mirror}) == (
        "setMirrorRoute shadow: 30% of method = GET and path ^= /api copied to canary"
    )


def test_a_rollout_paused_until_promoted_is_shown_and_status_times_out(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    steps: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]
    revision = paused_indefinitely(podinfo, steps)

    row = ferry(config, "list", "rollouts").stdout.splitlines()[1].split()
    assert row[:6] == ["podinfo", "Paused", "2/3", "20%", podinfo.state().stable_revision, revision]

    shown = ferry(config, "get", "ro", "podinfo").stdout
    assert re.findall(r"^  (.)\s+\d\. (.*)$", shown, re.M) == [
        ("✔", "setWeight 20%"),
        ("▶", "pause (until promoted)"),
        (" ", "setWeight 50%"),
    ]
    assert re.search(r"^Weight:\s+20%$", shown, re.M)
    assert re.search(r"^  PausedIndefinitely since \S+Z$", shown, re.M)
    assert "paused until promoted" in shown.split("History", 1)[1]

    started = time.monotonic()
    waited = ferry(config, "status", "podinfo", "--timeout", "1s")
    assert waited.returncode == 2, waited.stderr
    assert 1 <= time.monotonic() - started < 10
    assert "podinfo: Paused, step 2/3, canary weight 20%" in waited.stdout
    assert "did not finish within 1s" in waited.stderr
    assert "kubectl ferry promote podinfo" in waited.stderr

    once = ferry(config, "get", "rollout", "podinfo", "-w", "--timeout", "1s")
    assert once.returncode == 0 and once.stdout.count("Name:") == 1  # nothing changed


def test_status_exits_1_when_the_canary_never_gets_ready(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    podinfo.create(steps=[{"setWeight": 50}], progressDeadlineSeconds=2, progressDeadlineAbort=True)
    podinfo.wait(Stage.HEALTHY)
    bad = podinfo.set_image("podinfo:2-crash")  # the simulator's Pods never become Ready
    # status trusts the status once Ferry has seen the latest generation: wait until Ferry
    # noticed the new revision (a target change does not change the Rollout's generation).
    eventually(lambda: status_of(podinfo.kube).get("canaryRevision") == bad, what="the canary")
    waited = ferry(config, "status", "podinfo", "--timeout", "30s")
    assert waited.returncode == 1, (waited.stdout, waited.stderr)
    assert "rollout podinfo is Degraded" in waited.stderr
    assert "podinfo: Degraded, step 1/1" in waited.stdout

    shown = ferry(config, "get", "rollout", "podinfo").stdout
    assert re.findall(r"^  (.)\s+\d\. (.*)$", shown, re.M) == [("✘", "setWeight 50%")]
    history = ferry(config, "history", "podinfo").stdout
    assert re.search(r"^\S+Z\s+event\s+Warning ProgressDeadlineExceeded: .*" + bad, history, re.M)


def test_get_watch_redraws_every_change_until_ctrl_c(
    podinfo: Demo,  # noqa: F811
    config: Path,
    tmp_path: Path,
) -> None:
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}])
    podinfo.wait(Stage.HEALTHY)
    assert KUBECTL
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        watching = subprocess.Popen(
            [KUBECTL, "ferry", "--kubeconfig", str(config), "get", "rollout", "podinfo", "-w"],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert watching.stdout is not None
    try:
        first = watching.stdout.readline()
        assert first.startswith("Name:")  # the first view is out
        revision = podinfo.set_image("podinfo:2")
        podinfo.wait(Stage.HEALTHY, stable_revision=revision)
        eventually(lambda: status_of(podinfo.kube).get("stableRevision") == revision)
        time.sleep(0.5)  # the last view is drawn
    finally:
        watching.send_signal(signal.SIGINT)  # kubectl execs the plugin: this is Ctrl-C
        out = first + watching.stdout.read()
        watching.wait(timeout=10)
    assert watching.returncode == 0, errors.read_text()
    assert "\x1b[" not in out  # not a terminal: views separated by a blank line, no clearing
    views = out.split("\n\nName:")
    phases = [re.search(r"^Phase:\s+(\w+)", v, re.M).group(1) for v in views]  # type: ignore[union-attr]
    weights = [re.search(r"^Weight:\s+(\S+)", v, re.M).group(1) for v in views]  # type: ignore[union-attr]
    assert phases[0] == "Healthy" and phases[-1] == "Healthy"
    assert {"Progressing", "Paused"} <= set(phases)
    assert {"20%", "50%"} <= set(weights)
    assert revision in views[-1].split("Stable:", 1)[1].splitlines()[0]
    assert all(a != b for a, b in itertools.pairwise(views)), "a view was drawn twice"


# -- the command protocol, without Ferry -----------------------------------------------------


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[tuple[Simulator, Kube, Path]]:
    """A simulator with Ferry's CRDs and no Ferry: nobody answers commands."""
    with Simulator(controllers=False) as sim:
        kube_ = Kube(sim.api_client())
        for path in sorted((KNATIVE_DIR / "crds").glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                kube_.request(
                    "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd
                )
        kube_.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "team-a"}})
        yield sim, kube_, as_alice(sim, tmp_path / "kubeconfig")


def _plain_rollout(kube_: Kube, namespace: str = "default", commands: int = 0) -> Obj:
    obj = demo.rollout()
    obj["metadata"]["namespace"] = namespace
    created = kube_.create(obj)
    if commands:
        old = [
            {"id": f"old-{i}", "action": "pause", "user": "bob", "time": "2025-01-01T00:00:00Z"}
            for i in range(commands)
        ]
        kube_.merge_patch(
            models.API_VERSION,
            models.PLURAL,
            namespace,
            demo.NAME,
            {"status": {"phase": "Paused", "commands": old}},
            sub="status",
        )
    return created


def test_status_waits_until_ferry_has_seen_the_targets_revision(
    bare: tuple[Simulator, Kube, Path],
) -> None:
    """An image change edits the Deployment, not the Rollout: a status that says Healthy for
    the previous revision is not done."""
    _, kube_, config_ = bare
    kube_.create(demo.deployment("podinfo:1"))
    _plain_rollout(kube_)
    target = kube_.deployment("default", demo.NAME)
    assert target is not None
    stable = configs.revision(kube_, target, None)
    healthy = {
        "phase": "Healthy",
        "observedGeneration": 1,
        "stableRevision": stable,
        "currentPodHash": stable,
    }
    kube_.merge_patch(
        models.API_VERSION, models.PLURAL, "default", demo.NAME, {"status": healthy}, sub="status"
    )
    assert ferry(config_, "status", "podinfo", "--timeout", "5s").returncode == 0

    kube_.merge_patch(
        "apps/v1",
        "deployments",
        "default",
        demo.NAME,
        {"spec": {"template": {"spec": {"containers": [{"name": "podinfo", "image": "v2"}]}}}},
    )
    waited = ferry(config_, "status", "podinfo", "--timeout", "1s")
    assert waited.returncode == 2, (waited.stdout, waited.stderr)
    assert "Ferry has not seen the target's revision" in waited.stderr


def test_a_command_is_appended_to_the_status_and_unanswered_exits_3(
    bare: tuple[Simulator, Kube, Path],
) -> None:
    _, kube_, config_ = bare
    _plain_rollout(kube_, commands=20)
    before = spec_of(kube_)
    started = time.monotonic()
    proc = ferry(config_, "promote", "podinfo", "--full", "--timeout", "1s")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert 1 <= time.monotonic() - started < 10
    assert "recorded" in proc.stderr and "has not handled it within 1s" in proc.stderr
    assert "kubectl get pods -n ferry-system" in proc.stderr
    assert spec_of(kube_) == before
    commands = rollout_of(kube_)["status"]["commands"]
    assert len(commands) == 20  # the oldest was dropped
    assert [c["id"] for c in commands[:-1]] == [f"old-{i}" for i in range(1, 20)]
    check_recorded(commands[-1], "promote", full=True)
    assert commands[-1]["id"] in proc.stderr

    later = ferry(config_, "abort", "podinfo", "--no-wait")
    assert later.returncode == 0, later.stderr
    newest = rollout_of(kube_)["status"]["commands"][-1]
    check_recorded(newest, "abort")
    assert newest["id"] in later.stdout and spec_of(kube_) == before


def test_concurrent_commands_are_all_recorded(bare: tuple[Simulator, Kube, Path]) -> None:
    # Six people act at once while the status keeps changing (as when Ferry writes it during a
    # rollout): each read-modify-write that meets a conflict re-reads and tries again.
    _, kube_, config_ = bare
    _plain_rollout(kube_)
    before = spec_of(kube_)
    assert KUBECTL
    stop = threading.Event()

    def busy() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            kube_.merge_patch(
                models.API_VERSION,
                models.PLURAL,
                demo.NAMESPACE,
                demo.NAME,
                {"status": {"message": f"busy {count}"}},
                sub="status",
            )
            time.sleep(0.005)

    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    actions = ["pause", "resume", "abort", "retry", "promote", "pause"]
    try:
        procs = [
            subprocess.Popen(
                [KUBECTL, "ferry", "--kubeconfig", str(config_), action, "podinfo", "--no-wait"],
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for action in actions
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        stop.set()
        writer.join(timeout=10)
    assert [p.returncode for p in procs] == [0] * len(actions), outputs
    commands = rollout_of(kube_)["status"]["commands"]
    assert sorted(c["action"] for c in commands) == sorted(actions)
    printed = {re.search(r"\(command (\S+)\)", out).group(1) for out, _ in outputs}  # type: ignore[union-attr]
    assert printed == {c["id"] for c in commands} and len(printed) == len(actions)
    for command in commands:
        check_recorded(
            command, command["action"], full=False if command["action"] == "promote" else None
        )
    assert spec_of(kube_) == before


# -- connection ------------------------------------------------------------------------------


def test_the_namespace_comes_from_the_context_kubeconfig_and_options(
    bare: tuple[Simulator, Kube, Path], tmp_path: Path
) -> None:
    sim, kube_, _ = bare
    _plain_rollout(kube_, namespace="team-a")
    team = as_alice(sim, tmp_path / "team", namespace="team-a")
    assert ferry(team, "get", "rollout", "podinfo").returncode == 0
    from_env = ferry(None, "list", "rollouts", env=dict(ENV, KUBECONFIG=str(team)))
    assert from_env.stdout.splitlines()[1].split()[:2] == ["podinfo", "Unknown"]
    elsewhere = ferry(team, "get", "rollout", "podinfo", "-n", "default")
    assert elsewhere.returncode == 4
    assert 'rollout "podinfo" not found in namespace "default"' in elsewhere.stderr
    # options after the subcommand, and a second context chosen with --context
    two = yaml.safe_load(team.read_text())
    two["contexts"].append({"name": "other", "context": {"cluster": "ferry-sim", "user": USER}})
    (tmp_path / "two").write_text(yaml.safe_dump(two))
    other = ferry(
        None,
        "get",
        "rollout",
        "podinfo",
        "--kubeconfig",
        str(tmp_path / "two"),
        "--context",
        "other",
    )
    assert other.returncode == 4 and 'in namespace "default"' in other.stderr
    same = ferry(
        None, "history", "podinfo", "--context", "ferry-sim", "--kubeconfig", str(tmp_path / "two")
    )
    assert same.returncode == 0 and "has no history yet" in same.stdout


# -- errors ----------------------------------------------------------------------------------


def test_errors_say_what_to_do_next(bare: tuple[Simulator, Kube, Path], tmp_path: Path) -> None:
    config_ = bare[2]
    hint = (
        'rollout "nope" not found in namespace "default"; '
        "list them with: kubectl ferry list rollouts -n default"
    )
    for args in (
        ["get", "rollout", "nope"],
        ["get", "rollout", "nope", "-w", "--timeout", "1s"],
        ["status", "nope"],
        ["history", "nope"],
        ["promote", "nope"],
        ["resume", "nope", "--no-wait"],
    ):
        proc = ferry(config_, *args)
        assert (proc.returncode, proc.stderr.strip()) == (4, f"error: {hint}"), args
    team = ferry(config_, "get", "rollout", "nope", "-n", "team-a")
    assert "kubectl ferry list rollouts -n team-a" in team.stderr
    empty = ferry(config_, "list", "rollouts", "-n", "team-a")
    assert (empty.returncode, empty.stderr.strip()) == (
        0,
        'No rollouts found in namespace "team-a".',
    )
    unknown = ferry(config_, "--context", "staging", "list", "rollouts")
    assert (
        unknown.returncode == 4 and 'context "staging" is not in your kubeconfig' in unknown.stderr
    )

    with Simulator(controllers=False) as gone:
        url = gone.url
    down = write_kubeconfig(tmp_path / "down", url)
    started = time.monotonic()
    proc = ferry(down, "list", "rollouts")
    assert proc.returncode == 4 and time.monotonic() - started < 30
    assert f"cannot reach the cluster at {url}" in proc.stderr
    assert "check your kubeconfig/context" in proc.stderr
    missing = ferry(tmp_path / "no-such-file", "list", "rollouts")
    assert missing.returncode == 4 and "cannot load the kubeconfig" in missing.stderr


class _ApiServer(BaseHTTPRequestHandler):
    """A stand-in API server for what the simulator does not model: it authorizes like RBAC
    (the user bob@example.com may read Rollouts and patch the status of ``open`` only), serves
    SelfSubjectReviews, and can have another writer change ``open`` between a client's read
    and its write (``conflicts`` times), answering 409 as the real one does."""

    version = 7
    conflicts = 0
    patches: ClassVar[list[Obj]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: Obj) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _failure(self, code: int, reason: str, message: str) -> None:
        status = {"kind": "Status", "status": "Failure", "message": message, "reason": reason}
        self._send(code, {**status, "code": code})

    def _rollout(self) -> Obj:
        name = self.path.split("?")[0].split("/")[7]
        obj = demo.rollout()
        obj["metadata"].update(name=name, resourceVersion=str(self.version), generation=1)
        return obj

    def do_GET(self) -> None:
        self._send(200, self._rollout())

    def do_POST(self) -> None:
        assert self.path == "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        self._send(201, {"status": {"userInfo": {"username": "bob@example.com"}}})

    def do_PATCH(self) -> None:
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        obj = self._rollout()
        name = obj["metadata"]["name"]
        if name != "open":
            self._failure(
                403,
                "Forbidden",
                f'rollouts.ferry.dev "{name}" is forbidden: User "bob@example.com" cannot patch '
                'resource "rollouts/status" in API group "ferry.dev" in the namespace "default"',
            )
            return
        if cls.conflicts:
            cls.conflicts -= 1
            cls.version += 1  # someone else wrote meanwhile
        if body["metadata"]["resourceVersion"] != str(cls.version):
            self._failure(
                409,
                "Conflict",
                'Operation cannot be fulfilled on rollouts.ferry.dev "open": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
            return
        cls.patches.append(body)
        cls.version += 1
        obj["status"] = body["status"]
        self._send(200, obj)


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig for a fresh stand-in API server (see :class:`_ApiServer`)."""
    _ApiServer.version, _ApiServer.conflicts, _ApiServer.patches = 7, 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


def test_forbidden_names_the_missing_permission_and_the_user_comes_from_the_api(
    apiserver: Path,
) -> None:
    refused = ferry(apiserver, "promote", "locked")
    assert refused.returncode == 4
    assert refused.stderr.startswith(
        'error: forbidden: you may not patch rollouts/status in namespace "default"'
    )
    assert 'User "bob@example.com" cannot patch' in refused.stderr
    allowed = ferry(apiserver, "pause", "open", "--no-wait")
    assert allowed.returncode == 0, allowed.stderr
    (patch,) = _ApiServer.patches
    assert patch["metadata"] == {"resourceVersion": "7"}  # read-modify-write, guarded
    (command,) = patch["status"]["commands"]
    assert (command["action"], command["user"]) == ("pause", "bob@example.com")


def test_a_conflict_is_read_again_and_retried(apiserver: Path) -> None:
    _ApiServer.conflicts = 3
    proc = ferry(apiserver, "abort", "open", "--no-wait")
    assert proc.returncode == 0, proc.stderr
    (patch,) = _ApiServer.patches
    assert patch["metadata"] == {"resourceVersion": "10"}  # read after the third conflict
    assert [c["action"] for c in patch["status"]["commands"]] == ["abort"]


# -- the round trips with Ferry --------------------------------------------------------------
# These follow the command protocol; they pass once Ferry handles status.commands.


def test_promote_goes_on_from_an_indefinite_pause_and_full_finishes(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    steps: list[Obj] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]
    revision = paused_indefinitely(podinfo, steps)
    kube_ = podinfo.kube
    proc, command = act(config, kube_, "promote", "podinfo")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "promote", full=False)
    round_trip = answer(kube_, command["id"])
    assert round_trip["user"] == USER
    assert proc.stdout.strip() == f"rollout podinfo: {round_trip['note']}"
    podinfo.wait(Stage.PAUSED, step=3, weight=50)

    proc, command = act(config, kube_, "promote", "podinfo", "--full")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "promote", full=True)
    done = ferry(config, "status", "podinfo", "--timeout", "20s")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert podinfo.state().stable_revision == revision


def test_abort_then_retry(podinfo: Demo, config: Path) -> None:  # noqa: F811
    revision = paused_indefinitely(podinfo, [{"setWeight": 20}, {"pause": {}}])
    kube_ = podinfo.kube
    proc, command = act(config, kube_, "abort", "podinfo")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "abort")
    assert proc.stdout.startswith("rollout podinfo: ")
    eventually(lambda: status_of(kube_).get("phase") == "Degraded", what="Degraded")
    assert podinfo.weight() == 0
    assert ferry(config, "status", "podinfo", "--timeout", "5s").returncode == 1

    proc, command = act(config, kube_, "retry", "podinfo")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "retry")
    podinfo.wait(Stage.PAUSED, canary_revision=revision, step=1, weight=20)


def test_pause_then_resume(podinfo: Demo, runtime: Runtime, config: Path) -> None:  # noqa: F811
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {"duration": "2s"}}, {"setWeight": 50}])
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.PAUSED, canary_revision=revision, step=1)
    kube_ = podinfo.kube
    proc, command = act(config, kube_, "pause", "podinfo")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "pause")
    time.sleep(2.5)  # the step's pause is over; a person's pause holds
    runtime.tick()
    time.sleep(0.5)
    status = status_of(kube_)
    assert (status["phase"], status["currentStepIndex"], status["canaryWeight"]) == (
        "Paused",
        1,
        20,
    )

    proc, command = act(config, kube_, "resume", "podinfo")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    check_recorded(command, "resume")
    done = ferry(config, "status", "podinfo", "--timeout", "20s")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert podinfo.state().stable_revision == revision


def test_a_command_ferry_refuses_exits_1(podinfo: Demo, config: Path) -> None:  # noqa: F811
    podinfo.create()
    podinfo.wait(Stage.HEALTHY)
    proc, command = act(config, podinfo.kube, "retry", "podinfo")  # nothing was aborted
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    note = answer(podinfo.kube, command["id"])["note"]
    assert re.match(r"(ignored|refused|rejected)\b", note), note
    assert proc.stdout.strip() == f"rollout podinfo: {note}"


def test_a_gate_shows_in_get_and_confirm_opens_it(
    podinfo: Demo,  # noqa: F811
    config: Path,
) -> None:
    podinfo.create(
        steps=[{"setWeight": 20}], webhooks=[{"name": "ship", "type": "confirm-promotion"}]
    )
    podinfo.wait(Stage.HEALTHY)
    revision = podinfo.set_image("podinfo:2")
    podinfo.wait(Stage.GATED, canary_revision=revision)
    eventually(lambda: status_of(podinfo.kube).get("phase") == "Paused", what="status Paused")
    shown = ferry(config, "get", "rollout", demo.NAME)
    assert shown.returncode == 0, shown.stderr
    assert "GateClosed" in shown.stdout and "waiting at gate confirm-promotion" in shown.stdout
    proc, command = act(config, podinfo.kube, "confirm", demo.NAME)
    assert proc.returncode == 0, proc.stderr
    check_recorded(command, "confirm")
    assert "gate confirm-promotion opened by alice" in proc.stdout
    podinfo.wait(Stage.HEALTHY, stable_revision=revision, timeout=30)
    history = ferry(config, "history", demo.NAME)
    assert "gate confirm-promotion opened by alice" in history.stdout
