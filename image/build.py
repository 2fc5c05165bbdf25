"""Build Ferry's OCI image on this machine, with no container engine and no registry.

``make image`` runs this. The root filesystem is a minimal Debian (``mmdebstrap``, the
``essential`` set plus Python 3.11, CA certificates and git, for releases written to Git),
Ferry and the exact Python packages of ``image/requirements.txt`` (pinned, with their hashes;
wheels only, so no compiler is ever in the image) are installed into it, every ``.py`` is
compiled once, and ``umoci`` packs it as a one-layer OCI image: user 65532 (numeric, so
Kubernetes' ``runAsNonRoot`` can check it), entrypoint ``ferry``, command ``serve``. The
result is an OCI archive (``dist/ferry-oci.tar``: ``skopeo copy oci-archive:…``,
``podman load``), its digest, and, unless ``--no-pin``, the digest written into
``knative/kustomization.yaml``'s ``images:`` so the install uses exactly this image.

Reproducible: every file's time is that of the last commit that changed what goes into the
image (``SOURCE_DATE_EPOCH`` overrides it), the compiled
files check a hash rather than a time, logs and caches are left out, and the archive is
written in a fixed order; so the same source, the same Debian packages and the same wheels
give the same digest. What varies: Debian publishes security updates to bookworm, so a build
on another day may take newer packages (``dist/ferry-packages.txt`` lists the ones taken).

It builds only: it never pushes to a registry, nor runs the image (tests/image does). It needs
root (``mmdebstrap`` and ``chroot``); ``lock`` refreshes ``image/requirements.txt``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "image" / "requirements.txt"
BUILD_PINS = ROOT / "image" / "build-constraints.txt"
KUSTOMIZATION = ROOT / "knative" / "kustomization.yaml"
NAME = "ghcr.io/ferry-dev/ferry"
"""The image's name in knative/'s manifests; kustomize's ``images:`` maps it to a digest."""
USER = 65532
"""The image's user and group: numeric, not root (the Services set ``runAsNonRoot``)."""
SUITE = "bookworm"
PYTHON = "3.11.2"
"""Debian bookworm's Python: the version ``lock`` resolves the dependencies for (markers such
as redis's ``python_full_version < "3.11.3"`` decide what is needed), checked in the build."""
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "libstdc++6", "ca-certificates", "git")
"""Debian packages on top of the ``essential`` set: Python (Debian's 3.11), the C++ runtime
(google-re2's wheel, for CEL), the CA certificates for HTTPS (the API server, Prometheus,
Slack), git (a release written to Git)."""
CHECK = """
import ctypes, pathlib, sys
site = pathlib.Path("/usr/local/lib/python3.11/dist-packages")
failed = []
for library in sorted(site.rglob("*.so*")):
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        failed.append(f"{library.relative_to(site)}: {exc}")
sys.exit("\\n".join(failed) or None)
"""
"""Run inside the root filesystem: every native library of the wheels loads (a wheel that
needs a system library Debian's ``essential`` set lacks fails here, not in a Pod)."""
LEFT_OUT = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)
"""dpkg never unpacks these (documentation and translations); the copyright files stay."""
KEPT = ("/usr/share/doc/*/copyright",)
DROPPED = (
    "var/log",
    "var/cache/apt",
    "var/cache/debconf",
    "var/cache/ldconfig",
    "var/lib/apt/lists",
    "run",
    "tmp",
    "dev",
)
"""Directories whose content is a trace of the build (logs, caches): emptied. ``dev`` too: a
container runtime mounts its own."""
MACHINE_FILES = (
    "etc/hostname",
    "etc/resolv.conf",
    "etc/machine-id",
    "etc/apt/sources.list",
)
"""Files mmdebstrap copies or writes from the building machine (its name, its DNS server, the
mirror given): left out, so the image is the same wherever it is built and tells nothing of
where."""


class BuildError(Exception):
    """The build cannot go on; the message says what to do."""


def step(number: int, total: int, text: str) -> float:
    print(f"[{number}/{total}] {text}", flush=True)
    return time.monotonic()


CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
"""The whole environment of a command run inside the root filesystem: nothing of this
machine's (a PYTHONPYCACHEPREFIX, say) reaches the image."""


def run(
    *args: str | Path,
    env: dict[str, str] | None = None,
    quiet: bool = True,
    inside: bool = False,
) -> str:
    """Run a command (``inside``: in the root filesystem, with :data:`CHROOT_ENV` only); its
    output is shown only when it fails."""
    done = subprocess.run(
        [str(a) for a in args],
        env=dict(CHROOT_ENV) if inside else {**os.environ, **(env or {})},
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        check=False,
    )
    if done.returncode:
        tail = "\n".join((done.stdout or "").splitlines()[-30:])
        raise BuildError(f"{args[0]} failed (exit {done.returncode}):\n{tail}")
    return done.stdout or ""


def require_tools() -> None:
    missing = [t for t in ("mmdebstrap", "umoci", "chroot", "git") if not shutil.which(t)]
    if missing:
        raise BuildError(
            f"missing: {', '.join(missing)}; install them (Debian: apt-get install "
            "mmdebstrap umoci) and retry"
        )
    if os.geteuid() != 0:
        raise BuildError("the build needs root (mmdebstrap and chroot): run it with sudo")


INPUTS: tuple[str, ...] = ("pyproject.toml", "README.md", "image", "shared", "functions")
INPUTS += ("local", "cli", "dashboard", "webhooks")
"""What goes into the image (README.md is the wheel's description); a commit that changes
none of these (knative/'s pinned digest, say) builds the same image."""


def source() -> tuple[int, str]:
    """The time every file of the image carries (SOURCE_DATE_EPOCH, else the time of the last
    commit that changed an input) and that commit."""
    found = run("git", "-C", ROOT, "log", "-1", "--format=%ct %H", "--", *INPUTS).split()
    if not found:
        raise BuildError("no commit touches Ferry's sources: build from a git checkout")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or found[0])
    changed = run("git", "-C", ROOT, "status", "--porcelain", "--", *INPUTS).strip()
    return epoch, found[1] + ("-dirty" if changed else "")  # uncommitted changes are in it


def debian(rootfs: Path, epoch: int, mirror: str) -> None:
    options = [f"--dpkgopt=path-exclude={p}" for p in LEFT_OUT]
    options += [f"--dpkgopt=path-include={p}" for p in KEPT]
    run(
        "mmdebstrap",
        "--mode=root",
        "--variant=essential",
        f"--include={','.join(PACKAGES)}",
        *options,
        SUITE,
        rootfs,
        mirror,
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )


def source_tree(into: Path) -> Path:
    """The checkout's files as git sees them (tracked, and new files not ignored): never a
    stale build/ or egg-info, never a local .venv."""
    listed = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    tree = into / "ferry"
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if path.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tree / name)
    return tree


def python_packages(rootfs: Path, work: Path) -> None:
    """Ferry and the pinned wheels into /usr/local/lib/python3.11/dist-packages (on Debian's
    python3 path), the console scripts into /usr/local/bin with Debian's python3."""
    site = rootfs / "usr/local/lib/python3.11/dist-packages"
    scripts = rootfs / "usr/local/bin"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-cache-dir"]
    pip += ["--disable-pip-version-check", "--no-deps"]
    # two stages: pip --target leaves out what a second install would put in an existing folder
    pinned, ferry = work / "pinned", work / "ferry-stage"
    run(*pip, "--target", pinned, "--only-binary=:all:", "--require-hashes", "-r", REQUIREMENTS)
    # the build backend that makes Ferry's wheel is pinned too (its name is in the wheel's
    # metadata); PIP_CONSTRAINT reaches pip's isolated build environment
    run(*pip, "--target", ferry, source_tree(work), env={"PIP_CONSTRAINT": str(BUILD_PINS)})
    for stage in (pinned, ferry):
        _install_stage(stage, site, scripts)
    if not (scripts / "ferry").is_file():
        raise BuildError("Ferry's wheel installed no `ferry` command: see pyproject.toml")


def _install_stage(stage: Path, site: Path, scripts: Path) -> None:
    scripts.mkdir(parents=True, exist_ok=True)
    (stage / "bin").mkdir(exist_ok=True)
    for script in sorted((stage / "bin").iterdir()):
        data = script.read_bytes()
        if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
            data = b"#!/usr/bin/python3\n" + data.split(b"\n", 1)[1]  # pip wrote the build's
        (scripts / script.name).write_bytes(data)
        (scripts / script.name).chmod(0o755)
    shutil.rmtree(stage / "bin")
    for record in stage.glob("*.dist-info/RECORD"):
        # the scripts now live outside this tree and direct_url.json names the build's
        # temporary directory: both leave the record, so it says only what is installed here
        (record.parent / "direct_url.json").unlink(missing_ok=True)
        kept = [
            line
            for line in record.read_text().splitlines()
            if not line.startswith(("../", "bin/")) and "direct_url.json" not in line
        ]
        record.write_text("\n".join(kept) + "\n")
    site.mkdir(parents=True, exist_ok=True)
    for entry in stage.iterdir():
        if (site / entry.name).exists():
            raise BuildError(f"{entry.name} is installed twice: by Ferry and a dependency")
        shutil.move(str(entry), site / entry.name)


def finish(rootfs: Path, epoch: int) -> None:
    """The user, the compiled files, no build traces, every time set to ``epoch``."""
    with (rootfs / "etc/passwd").open("a") as passwd:
        passwd.write(f"ferry:x:{USER}:{USER}:Ferry:/nonexistent:/usr/sbin/nologin\n")
    with (rootfs / "etc/group").open("a") as group:
        group.write(f"ferry:x:{USER}:\n")
    for cache in list(rootfs.rglob("__pycache__")):
        shutil.rmtree(cache)
    # a hash, not a time, decides whether a compiled file is current: the same bytes on every
    # build, and no write attempted by the non-root user at run time
    run(
        "chroot",
        rootfs,
        "/usr/bin/python3",
        "-S",  # no site: no .pth runs (setuptools' imports _distutils_hack) before compiling
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "/usr/lib/python3.11",
        "/usr/lib/python3/dist-packages",
        "/usr/local/lib/python3.11/dist-packages",
        inside=True,
    )
    found = run(
        "chroot",
        rootfs,
        "/usr/bin/python3",
        "-c",
        "import platform as p;print(p.python_version())",
        inside=True,
    )
    if found.strip() != PYTHON:
        raise BuildError(
            f"Debian's Python is now {found.strip()}, not {PYTHON}: set PYTHON in image/build.py "
            "and run `python image/build.py lock` (the dependencies depend on it)"
        )
    try:
        run("chroot", rootfs, "/usr/bin/python3", "-c", CHECK, inside=True)
    except BuildError as exc:
        raise BuildError(
            f"a native library does not load in the image (add its package to PACKAGES): {exc}"
        ) from None
    run(
        "chroot",
        f"--userspec={USER}:{USER}",
        rootfs,
        "/usr/local/bin/ferry",
        "--version",
        inside=True,
    )
    for name in DROPPED:
        folder = rootfs / name
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    for name in MACHINE_FILES:  # this machine's, not the image's (the runtime provides them)
        (rootfs / name).unlink(missing_ok=True)
    for path in rootfs.rglob("*"):  # no setuid or setgid program: nobody gains a privilege
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o6000:
            path.chmod(path.stat().st_mode & ~0o6000)
    for path in [rootfs, *rootfs.rglob("*")]:
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def architecture() -> str:
    """This machine's, as mmdebstrap built for it (Debian's names are OCI's for amd64, arm64)."""
    return run("dpkg", "--print-architecture").strip()


def pack(rootfs: Path, layout: Path, epoch: int, version: str, revision: str) -> str:
    """A one-layer OCI image of ``rootfs``; returns its manifest's digest."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    image = f"{layout}:{version}"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", image)
    run(
        "umoci",
        "insert",
        "--image",
        image,
        "--history.created",
        created,
        "--history.created_by",
        "image/build.py: Debian, Python and Ferry",
        rootfs,
        "/",
    )
    labels = {
        "org.opencontainers.image.title": "ferry",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    run(
        "umoci",
        "config",
        "--image",
        image,
        "--no-history",
        "--created",
        created,
        "--architecture",
        architecture(),
        "--os",
        "linux",
        "--config.user",
        f"{USER}:{USER}",
        "--config.workingdir",
        "/",
        "--config.entrypoint",
        "ferry",
        "--config.cmd",
        "serve",
        "--config.env",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "--config.env",
        "PYTHONUNBUFFERED=1",
        "--config.env",
        "PYTHONDONTWRITEBYTECODE=1",
        *[arg for key, value in labels.items() for arg in ("--config.label", f"{key}={value}")],
    )
    run("umoci", "gc", "--layout", layout)
    index = json.loads((layout / "index.json").read_text())
    (manifest,) = index["manifests"]
    return str(manifest["digest"])


def archive(layout: Path, out: Path, epoch: int) -> None:
    """The OCI layout as one tar (an OCI archive), in name order, with fixed owners and times."""

    def fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = epoch
        return info

    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False, filter=fixed)


PIN_BEGIN = "# The image, by digest"
PIN_END = "# (end of the image's pin)"


def pin(kustomization: Path, name: str, digest: str, new_name: str | None) -> None:
    """Write ``digest`` (and ``new_name``, else the one pinned before) into the kustomization's
    ``images:`` entry for ``name``: the lines between :data:`PIN_BEGIN` and :data:`PIN_END`,
    which this function owns; everything else is kept as written."""
    text = kustomization.read_text()
    before, after, kept_name = text, "", None
    if PIN_BEGIN in text:
        before, rest = text.split(PIN_BEGIN, 1)
        if PIN_END not in rest:
            raise BuildError(f"{kustomization}: {PIN_BEGIN!r} without {PIN_END!r}; mend it")
        block, after = rest.split(PIN_END, 1)
        found = re.search(r"^\s+newName: (\S+)$", block, re.MULTILINE)
        kept_name = found.group(1) if found else None
    if re.search(r"^images:", before + after, re.MULTILINE):
        raise BuildError(
            f"{kustomization} has an images: list of its own; add the entry for {name} by hand: "
            f"digest {digest}"
        )
    new_name = new_name or kept_name
    lines = [
        f"{PIN_BEGIN} (written by `make image`: image/build.py). Publish it to a registry of",
        "# your own and point newName there: README.md, 'Install on a cluster'.",
        "images:",
        f"  - name: {name}",
        *([f"    newName: {new_name}"] if new_name else []),
        f"    digest: {digest}",
        PIN_END,
    ]
    head = before.rstrip("\n") + "\n"
    kustomization.write_text(head + "\n".join(lines) + "\n" + after.lstrip("\n"))


def packages(rootfs: Path) -> list[str]:
    status = (rootfs / "var/lib/dpkg/status").read_text()
    found = re.findall(r"^Package: (\S+)\n(?:.+\n)*?Version: (\S+)$", status, re.MULTILINE)
    return sorted(f"{name} {version}" for name, version in found)


def build(args: argparse.Namespace) -> int:
    require_tools()
    os.umask(0o022)  # file modes in the image do not depend on the caller's umask
    from shared.version import VERSION

    epoch, revision = source()
    total, started = 5, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ferry-image-") as temp:
        work = Path(temp)
        rootfs = work / "rootfs"
        began = step(1, total, f"Debian {SUITE} ({', '.join(PACKAGES)}) from {args.mirror}")
        debian(rootfs, epoch, args.mirror)
        print(f"      {time.monotonic() - began:.0f} s", flush=True)
        began = step(2, total, "Ferry and image/requirements.txt (wheels, hashes checked)")
        python_packages(rootfs, work)
        print(f"      {time.monotonic() - began:.0f} s", flush=True)
        step(3, total, "user 65532, compiled files, no caches or logs, times of the last commit")
        finish(rootfs, epoch)
        size = sum(p.lstat().st_size for p in rootfs.rglob("*") if not p.is_dir())
        listed = packages(rootfs)
        step(4, total, "one OCI layer with umoci")
        digest = pack(rootfs, work / "oci", epoch, VERSION, revision)
        step(5, total, f"OCI archive {args.out}")
        archive(work / "oci", args.out, epoch)
    args.out.with_name("ferry-packages.txt").write_text("\n".join(listed) + "\n")
    args.out.with_name("ferry-image.digest").write_text(digest + "\n")
    if args.pin:
        pin(args.kustomization, NAME, digest, args.name)
    listing = args.out.with_name("ferry-packages.txt")
    archived = args.out.stat().st_size / 2**20
    print(
        f"built {args.out} in {time.monotonic() - started:.0f} s: {digest}\n"
        f"  root filesystem {size / 2**20:.0f} MiB, archive {archived:.0f} MiB, "
        f"{len(listed)} Debian packages (listed in {listing})"
    )
    if args.pin:
        print(f"  pinned in {args.kustomization}: {NAME} -> {args.name or NAME}@{digest}")
    print(
        f"  publish: skopeo copy oci-archive:{args.out}:{VERSION} docker://REGISTRY/ferry:{VERSION}"
    )
    return 0


def lock_python() -> str:
    """An interpreter of :data:`PYTHON`: pip evaluates requirement markers with the Python it
    runs on, whatever ``--python-version`` says."""
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3", sys.executable):
        if not Path(candidate).exists():
            continue
        found = run(candidate, "-c", "import platform; print(platform.python_version())")
        if found.strip() == PYTHON:
            return candidate
    raise BuildError(
        f"lock needs Python {PYTHON} (Debian bookworm's /usr/bin/python3, apt-get install "
        "python3): the dependencies are resolved for the image's Python"
    )


def lock(_: argparse.Namespace) -> int:
    """Pin Ferry's dependencies as resolved today for the image's Python (wheels only), with
    their hashes."""
    import pip

    with tempfile.TemporaryDirectory(prefix="ferry-lock-") as temp:
        run(
            lock_python(),
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            PYTHON,
            "--dest",
            temp,
            source_tree(Path(temp)),
            env={"PYTHONPATH": str(Path(pip.__file__).parents[1]), "PYTHONNOUSERSITE": "1"},
        )
        lines = []
        for wheel in sorted(Path(temp).glob("*.whl"), key=lambda p: p.name.lower()):
            name, version = wheel.name.split("-")[:2]
            if name == "ferry_rollouts":
                continue
            sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{name.lower().replace('_', '-')}=={version} \\\n    --hash=sha256:{sha}")
    REQUIREMENTS.write_text(
        "# Ferry's runtime dependencies as the image installs them: wheels only, pinned, with\n"
        "# their hashes. Written by `python image/build.py lock`; do not edit.\n"
        + "\n".join(lines)
        + "\n"
    )
    print(f"wrote {REQUIREMENTS}: {len(lines)} wheels")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image/build.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    made = sub.add_parser("build", help="build the image (the default)")
    made.add_argument("--out", type=Path, default=ROOT / "dist" / "ferry-oci.tar")
    made.add_argument("--mirror", default=MIRROR, help=f"a Debian mirror (default {MIRROR})")
    made.add_argument("--no-pin", dest="pin", action="store_false", help="leave knative/ alone")
    made.add_argument("--kustomization", type=Path, default=KUSTOMIZATION)
    made.add_argument("--name", help="the registry name to pin (newName), e.g. reg.example/ferry")
    made.set_defaults(run=build)
    sub.add_parser("lock", help="pin the dependencies again").set_defaults(run=lock)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] or ["build"])
    sys.path.insert(0, str(ROOT))
    try:
        return int(args.run(args))
    except BuildError as exc:
        print(f"image/build.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
