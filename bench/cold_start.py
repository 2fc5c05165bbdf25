"""Cold start: how long ``ferry serve FUNCTION`` takes from its process's start to its first
HTTP answer, in Ferry's image and from the checkout's virtual environment, side by side.

A function scaled to zero pays this on its first event (Knative starts a Pod, the Pod starts
``ferry serve``): the interpreter, Ferry's imports and the WSGI server, nothing else (no event,
no Redis or API request is made before the first answer). The image is ``dist/ferry-oci.tar``
(built first when missing: ``image/build.py``, which needs root), unpacked with ``umoci`` and
run as its container would (chroot, the image's user, entrypoint and environment). Rounds
alternate image / virtualenv so both see the same machine; the medians and their ratio go to
JSON (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local.served import Image, free_port

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "dist" / "ferry-oci.tar"
ENV = {
    "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached before the first answer
    "FERRY_BROKER_URL": "http://127.0.0.1:1/",
    "FERRY_SENDER_AUTH": "none",
}


def kubeconfig(path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: bench}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    path.chmod(0o644)
    return path


def ready_after(command: list[str], env: dict[str, str], port: int, cwd: str) -> float:
    """Seconds from starting ``command`` until 127.0.0.1:``port`` answers HTTP."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - started < 60:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                return time.perf_counter() - started
            except urllib.error.HTTPError:
                return time.perf_counter() - started  # it answers (GET of a POST route)
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited {process.returncode}") from None
                time.sleep(0.005)
        raise RuntimeError(f"{command} did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def unpacked(archive: Path, into: Path) -> Image:
    layout = into / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    bundle = into / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:0.1.0", str(bundle)],
        check=True,
        capture_output=True,
    )
    return Image(bundle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", type=Path, default=ARCHIVE)
    parser.add_argument("--function", default="detect")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not args.image.exists():
        print(f"building {args.image} (image/build.py --no-pin)", flush=True)
        build = [sys.executable, str(ROOT / "image/build.py"), "build", "--no-pin"]
        subprocess.run([*build, "--out", str(args.image)], check=True)
    times: dict[str, list[float]] = {"image": [], "venv": []}
    with tempfile.TemporaryDirectory(prefix="ferry-cold-") as temp:
        image = unpacked(args.image, Path(temp))
        inside = image.rootfs / "run" / "bench"
        inside.mkdir(parents=True, exist_ok=True)
        image_config = kubeconfig(inside / "kubeconfig")
        venv_config = kubeconfig(Path(temp) / "kubeconfig")
        for round_ in range(1, args.rounds + 1):
            port = free_port()
            argv = ["serve", args.function, "--host", "127.0.0.1", "--port", str(port)]
            env = {**image.env, **ENV, "KUBECONFIG": image.inside(image_config)}
            times["image"].append(ready_after(image.command(argv), env, port, "/"))
            port = free_port()
            argv[-1] = str(port)
            env = {**os.environ, **ENV, "KUBECONFIG": str(venv_config)}
            command = [sys.executable, "-m", "cli.ferry.main", *argv]
            times["venv"].append(ready_after(command, env, port, str(ROOT)))
            print(
                f"round {round_}/{args.rounds}: image {times['image'][-1]:.3f} s, "
                f"venv {times['venv'][-1]:.3f} s",
                flush=True,
            )
    medians = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, Any] = {
        "benchmark": "cold_start",
        "function": args.function,
        "rounds": args.rounds,
        "median_seconds": medians,
        "ratio_image_to_venv": medians["image"] / medians["venv"],
        "samples": times,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps({k: result[k] for k in ("median_seconds", "ratio_image_to_venv")}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
