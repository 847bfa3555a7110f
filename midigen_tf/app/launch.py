"""How ``midigen app`` runs the Streamlit server: never a prompt, stopped with its parent.

Streamlit is started headless (no first-run "Email:" prompt, which without a terminal made it
exit 255), with usage statistics off and stdin closed, all by command-line flags (nothing is
written to ``~/.streamlit``). The server runs in its own session, so Ctrl-C reaches only
``midigen app``, which forwards every stop signal (SIGINT, SIGTERM, SIGHUP) to it as SIGTERM,
waits for it (killing it after ``GRACE`` seconds) and returns 0. A browser is opened by us,
once the server answers, only when asked (``--browser``) or when run from a terminal on a
machine with a display. It listens on ``LOCAL`` (this machine only) unless given another
address: Streamlit's own default is every interface, which would let anyone on the network
use the page (generate, read the checkpoints under the weights folder).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path
from typing import Callable, Optional

from midigen_tf.errors import MidigenError

APP_SCRIPT = Path(__file__).resolve().with_name("streamlit_app.py")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 8.0  # seconds the server gets to stop before it is killed (Docker's own grace is 10 s)
WILDCARDS = ("", "0.0.0.0", "::")
LOCAL = "127.0.0.1"  # the address served on unless told otherwise: this machine only


def streamlit_command(port: int, address: Optional[str], weights_root: str,
                      script: Path = APP_SCRIPT) -> list[str]:
    """``python -m streamlit run`` the page: headless, no statistics, no file watcher, on
    ``address`` (None: ``LOCAL``)."""
    return [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
            "--server.address", address or LOCAL, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--", "--weights-root", str(weights_root)]


def page_url(port: int, address: Optional[str]) -> str:
    host = "localhost" if (address or "") in WILDCARDS else address
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def interactive() -> bool:
    """A terminal on both ends and, on Linux, a display: where a browser can open."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return not sys.platform.startswith("linux") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def answers(url: str) -> bool:
    """True once the server's health endpoint says ``ok``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM should ``midigen app`` be killed outright (SIGKILL)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def serve(cmd: list[str], url: str, open_browser: bool,
          echo: Callable[[str], None] = lambda _: None) -> int:
    """Run the server ``cmd`` until it ends or we are told to stop; 0 when stopped by a signal.

    A server that ends by itself with an error raises MidigenError (its own messages are above).
    """
    stopping: list[int] = []
    proc: Optional[subprocess.Popen] = None

    def forward(signum, _frame) -> None:
        if not stopping:
            echo(f"stopping the web app ({signal.Signals(signum).name}) ...")
        stopping.append(signum)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent if _PRCTL is not None else None)
        if stopping:  # a stop signal came while it started
            proc.send_signal(signal.SIGTERM)
        deadline = None
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            if stopping and deadline is None:
                deadline = time.monotonic() + GRACE
            elif deadline is not None and time.monotonic() > deadline:
                echo(f"the web app did not stop within {GRACE:g} s: killed")
                proc.kill()
                deadline = float("inf")
            if open_browser and not stopping and answers(url):
                open_browser = False
                webbrowser.open(url)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if proc is not None and proc.poll() is None:  # an exception above: no server left behind
            proc.kill()
            proc.wait()
    if stopping:
        echo("web app stopped")
        return 0
    if code != 0:
        raise MidigenError(f"the web app (Streamlit) ended with exit code {code}",
                           hint="its messages are above; for another port use --port")
    return 0
