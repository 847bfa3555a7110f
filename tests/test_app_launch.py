"""``midigen app`` as users start it: from a wheel installed outside the checkout, and without a
terminal (nohup, Docker, a service), stopped by its pid.

The server tests start a real Streamlit server (a few seconds) on a free port of 127.0.0.1, in
a fresh HOME (so it is Streamlit's first run there, where it used to stop at an "Email:"
prompt), and kill whatever is left if an assertion fails. The address tests at the end only
build the command (the server listens on 127.0.0.1 unless given ``--address``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
START = 120  # seconds for the page to answer, on a loaded machine
STOP = 30  # seconds for `midigen app` to end after a stop signal


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def health(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
        return r.read().strip()


@pytest.fixture
def launch(tmp_path):
    """``launch(cmd, cwd, env)``: start ``midigen app`` with no terminal (stdin from /dev/null, a
    new session, output to a log) and wait for its page; returns (process, server pid, log)."""
    started: list[tuple[subprocess.Popen, list[int]]] = []

    def start(cmd: list[str], cwd: Path, env: dict, port: int):
        log = cwd / "app.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env={**env, "HOME": str(tmp_path / "home")},
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        started.append((proc, []))
        deadline = time.monotonic() + START
        while True:
            try:
                if health(port) == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the page did not answer (exit code {proc.poll()}):\n"
                            + log.read_text()[-3000:])
            time.sleep(0.3)
        servers = children(proc.pid)
        started[-1][1].extend(servers)
        assert len(servers) == 1 and "streamlit run" in cmdline(servers[0])
        return proc, servers[0], log

    (tmp_path / "home").mkdir()
    yield start
    for proc, servers in started:  # only after a failure is anything left
        for pid in servers:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def listening_on(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp{,6}):
    "127.0.0.1", "0.0.0.0", or an IPv6 address in /proc's hex."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8
                          else address)
    return found


def assert_stopped(proc: subprocess.Popen, server: int, port: int, log: Path, home: Path) -> None:
    assert proc.wait(timeout=STOP) == 0, log.read_text()[-3000:]
    assert not Path(f"/proc/{server}").exists(), "the Streamlit server outlived `midigen app`"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as s:  # nobody listens: the port can be bound again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    text = log.read_text()
    assert "web app stopped" in text and "Email" not in text
    assert not (home / ".streamlit").exists()  # flags only: nothing written to ~/.streamlit


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.slow
def test_app_without_a_terminal_serves_and_a_stop_signal_stops_the_server(tmp_path, launch, signum):
    port = free_port()
    proc, server, log = launch(  # no --address: the default, this machine only
        [sys.executable, "-m", "midigen_tf.cli", "app", "--port", str(port),
         "--weights-root", str(tmp_path / "weights")], tmp_path, dict(os.environ), port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert b"<html" in r.read().lower()  # the page itself, not only the health endpoint
    assert listening_on(port) == {"127.0.0.1"}
    os.kill(proc.pid, signum)
    assert_stopped(proc, server, port, log, tmp_path / "home")


def _run(cmd: list[str], **kwargs) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kwargs)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_serves_the_app(tmp_path, launch):
    """Build a wheel from the project's files, install it (not editable) in a new venv and run
    that venv's ``midigen app`` from an unrelated folder, with no PYTHONPATH."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "midigen_tf", src / "midigen_tf",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp_path / "dist"), str(src)], cwd=src, env=env)
    wheel, = (tmp_path / "dist").glob("midigen_tf-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], env=env)
    # Dependencies (TensorFlow, Streamlit, ...) from the environment running the tests: a path
    # entry only, so that environment's own midigen_tf (an editable install) is not activated.
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     env=env).strip())
    paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in paths))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import midigen_tf; print(midigen_tf.__file__)"],
                 cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(site)  # the installed copy, not the checkout

    port = free_port()
    proc, server, log = launch([str(venv / "bin" / "midigen"), "app", "--port", str(port),
                                "--address", "127.0.0.1"], elsewhere, env, port)
    assert str(site / "midigen_tf" / "app" / "streamlit_app.py") in cmdline(server)
    os.kill(proc.pid, signal.SIGTERM)
    assert_stopped(proc, server, port, log, tmp_path / "home")


# ----------------------------------------------------------------------------- the address


def test_the_server_listens_on_this_machine_only_unless_told_otherwise():
    from midigen_tf.app.launch import streamlit_command

    def address(cmd: list[str]) -> list[str]:
        return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--server.address"]

    assert address(streamlit_command(8501, None, "weights")) == ["127.0.0.1"]
    assert address(streamlit_command(8501, "0.0.0.0", "weights")) == ["0.0.0.0"]
    cmd = streamlit_command(8501, "192.168.1.5", "w")
    assert address(cmd) == ["192.168.1.5"]
    assert cmd.index("--server.address") < cmd.index("--")  # a Streamlit flag, not the page's


@pytest.mark.parametrize("given, expected", [
    ([], "127.0.0.1"), (["--address", "0.0.0.0"], "0.0.0.0"), (["--address", "::1"], "::1"),
], ids=["default", "every-interface", "ipv6"])
def test_app_command_passes_the_address_to_streamlit(monkeypatch, given, expected):
    """What ``midigen app`` starts, without starting it: ``serve`` is replaced."""
    from click.testing import CliRunner

    from midigen_tf.app import launch
    from midigen_tf.cli import main

    started = []
    monkeypatch.setattr(launch, "serve", lambda cmd, url, *a, **k: started.append((cmd, url)) or 0)
    result = CliRunner().invoke(main, ["app", "--port", "8765", "--headless", *given])
    assert result.exit_code == 0, result.output
    (cmd, url), = started
    assert cmd[cmd.index("--server.address") + 1] == expected
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert url == {"127.0.0.1": "http://127.0.0.1:8765", "0.0.0.0": "http://localhost:8765",
                   "::1": "http://[::1]:8765"}[expected]


def test_app_help_says_where_it_listens():
    from click.testing import CliRunner

    from midigen_tf.cli import main

    text = " ".join(CliRunner().invoke(main, ["app", "--help"]).output.split())
    assert "Interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every " \
           "interface)" in text
    assert "--port INTEGER TCP port" in text
