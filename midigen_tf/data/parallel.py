"""Parse many files across cores, with the cache in front and every failure reported, not fatal.

A hostile corpus must never stop a run: a file that cannot be read, makes the parser raise,
runs longer than the per-file time limit, or kills its parser process (a crash in C code) is
skipped with a one-line reason, and every other file is parsed.

The time limit works at two levels. Inside the process that parses, ``SIGALRM`` interrupts a
parser stuck in Python code (every parser we use is pure Python). With ``jobs > 1`` the
parent process also watches each worker and kills one that overruns the limit by half again
(plus 5 s), which catches a hang in C code too; a new worker takes its place.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable

from midigen_tf.data.cache import FileCache, file_digest

DEFAULT_TIMEOUT = float(os.environ.get("MIDIGEN_PARSE_TIMEOUT", 600))  # seconds per file


def worker_context() -> multiprocessing.context.BaseContext:
    """Where our worker processes come from: a fork server (a fresh single-threaded process,
    started once, that forks the workers), or ``spawn`` where there is none.

    Never a plain ``fork`` of the calling process: once TensorFlow, tqdm or pyarrow have started
    threads there, a fork can copy a lock that another thread held, and the child waits on it
    forever (a test that built the default corpus in a process running TensorFlow hung so).
    Like ``spawn``, a fork server imports the main script again in the workers: scripts that
    start workers need the ``if __name__ == "__main__":`` guard (``lstm.py`` and
    ``predict.py`` have it)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


class ParseTimeout(Exception):
    """A parser ran past the per-file time limit."""


@dataclass
class ParseReport:
    """What happened to each file of a corpus."""

    parsed: dict[Path, Any] = field(default_factory=dict)  # path -> parser result, in file order
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)
    cache_hits: int = 0

    def lines(self, count_label: str = "items", count: Callable[[Any], int] = len) -> list[str]:
        total = sum(count(v) for v in self.parsed.values())
        out = [f"files parsed: {len(self.parsed)} ({self.cache_hits} from cache), "
               f"skipped: {len(self.skipped)}, {count_label}: {total}"]
        out += [f"  skipped {p}: {reason}" for p, reason in self.skipped]
        return out


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise ``ParseTimeout`` in the block after ``seconds`` (wall clock).

    Uses ``SIGALRM``, so it only acts in the main thread on POSIX and only interrupts Python
    code; elsewhere the block runs unlimited.
    """
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise ParseTimeout(f"parser did not finish within the {seconds:g} s time limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_EXPLAINED = (  # cryptic parser messages -> what is wrong with the file
    ("cannot handle midi file format", "MIDI format 2 (independent sequences) is not supported"),
    ("MThd not found", "not a MIDI file (no MThd header)"),
    ("badly formatted midi bytes", "not a MIDI file (no MThd header)"),
    ("missing leading MTrk", "MIDI header without track data (truncated?)"),
)


def _reason(err: BaseException) -> str:
    if isinstance(err, ParseTimeout):
        return str(err)
    if isinstance(err, RecursionError):
        return "RecursionError: file nests too deeply for the parser"
    msg = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    for needle, meaning in _EXPLAINED:
        if needle in msg:
            return f"{meaning} ({type(err).__name__})"
    if isinstance(err, EOFError) and not msg:
        return "file ends in the middle of its data (truncated?) (EOFError)"
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


def midi_structure_problem(path: str | os.PathLike) -> str | None:
    """Why a standard MIDI file cannot be complete, or None.

    Some parsers (music21) read a truncated file, or one whose chunk lengths lie, without a
    word and return part of it; this check finds both before any parser runs. Files that do
    not start with ``MThd`` are left to the parser (it explains them).
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(b"MThd"):
        return None
    pos, chunk = 0, 0
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        if not kind.isascii() or not kind.isalpha():
            break  # trailing bytes after the last chunk: tolerated, as players do
        if pos + 8 + size > len(data):
            left = len(data) - pos - 8
            return (f"truncated or corrupt MIDI: chunk {chunk} ({kind.decode()}) declares "
                    f"{size:,} bytes but only {left:,} remain")
        pos, chunk = pos + 8 + size, chunk + 1
    return None if chunk > 1 else "MIDI header without track data (truncated?)"


def _safe_call(parse: Callable[[Path], Any], path: Path,
               timeout: float | None = None) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, reason)``: any parser failure is a reason to skip."""
    try:
        if os.path.getsize(path) == 0:
            return False, "empty file (0 bytes)"
        if Path(path).suffix.lower() in (".mid", ".midi"):
            problem = midi_structure_problem(path)
            if problem:
                return False, problem
        with time_limit(timeout):
            return True, parse(path)
    except Exception as err:
        return False, _reason(err)


def parse_files(paths: list[Path], parse: Callable[[Path], Any], cache: FileCache,
                jobs: int = 0, progress: bool = True, desc: str = "parsing",
                validate: Callable[[Any], str | None] | None = None,
                timeout: float | None = DEFAULT_TIMEOUT) -> ParseReport:
    """Run ``parse(path)`` on every path not in ``cache``, in ``jobs`` processes (0 = cores).

    ``parse`` must be a module-level function (it is pickled to the workers). A file whose
    parse raises, overruns ``timeout`` seconds (None: no limit) or crashes its process is
    skipped with the reason; ``validate(result)`` may return a reason to skip a file that
    parsed (for example "no notes").
    """
    report = ParseReport()
    results: dict[Path, tuple[bool, Any]] = {}
    todo: list[tuple[Path, str]] = []
    for path in paths:
        try:
            digest = file_digest(path)
        except OSError as err:
            results[path] = (False, f"cannot read file: {err.strerror or err}")
            continue
        hit = cache.get(digest)
        if hit is not None:
            results[path] = (True, hit)
            report.cache_hits += 1
        else:
            todo.append((path, digest))

    if todo:
        jobs = min(jobs or os.cpu_count() or 1, len(todo))
        bar = _progress(len(todo), desc, progress)

        def done(path: Path, digest: str, outcome: tuple[bool, Any]) -> None:
            results[path] = _store(cache, digest, outcome)
            bar.update(1)

        if jobs == 1:
            for path, digest in todo:
                done(path, digest, _safe_call(parse, path, timeout))
        else:
            _run_pool(todo, parse, jobs, timeout, done)
        bar.close()

    for path in paths:
        ok, value = results[path]
        if ok and validate is not None:
            reason = validate(value)
            if reason:
                ok, value = False, reason
        if ok:
            report.parsed[path] = value
        else:
            report.skipped.append((path, value))
    return report


def _worker_loop(conn, parse: Callable[[Path], Any], timeout: float | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        if path is None:
            return
        conn.send(_safe_call(parse, path, timeout))


class _Worker:
    """One parser process fed one file at a time over a pipe."""

    def __init__(self, parse: Callable[[Path], Any], timeout: float | None):
        ctx = worker_context()
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_loop, args=(child, parse, timeout), daemon=True)
        self.process.start()
        child.close()
        self.task: tuple[Path, str] | None = None
        self.started = 0.0

    def assign(self, task: tuple[Path, str]) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task[0])

    def stop(self, kill: bool = False) -> None:
        if kill or self.task is not None:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.process.join(timeout=5)
        self.conn.close()


def _run_pool(todo: list[tuple[Path, str]], parse: Callable[[Path], Any], jobs: int,
              timeout: float | None, done: Callable[[Path, str, tuple[bool, Any]], None]) -> None:
    """Parse ``todo`` on ``jobs`` worker processes; replace a worker that hangs or dies."""
    hard_limit = timeout * 1.5 + 5 if timeout else None  # beyond SIGALRM's reach: kill
    queue = deque(todo)
    workers = [_Worker(parse, timeout) for _ in range(jobs)]
    try:
        while True:
            for w in workers:
                if w.task is None and queue:
                    w.assign(queue.popleft())
            busy = [w for w in workers if w.task is not None]
            if not busy:
                return
            now = time.monotonic()
            wait_for = (None if hard_limit is None
                        else max(0.0, min(w.started + hard_limit for w in busy) - now))
            wait([w.conn for w in busy], timeout=wait_for)
            for i, w in enumerate(workers):
                if w.task is None:
                    continue
                outcome, broken = None, False
                if w.conn.poll():
                    try:
                        outcome = w.conn.recv()
                    except (EOFError, OSError):
                        w.process.join(timeout=5)
                        outcome = (False, f"parser process died (exit code {w.process.exitcode})")
                        broken = True
                elif hard_limit is not None and time.monotonic() - w.started > hard_limit:
                    outcome, broken = (False, f"parser hung: killed after {hard_limit:g} s"), True
                if outcome is None:
                    continue
                task, w.task = w.task, None
                if broken:
                    w.stop(kill=True)
                    workers[i] = _Worker(parse, timeout)
                done(task[0], task[1], outcome)
    finally:
        for w in workers:
            w.stop()


def _store(cache: FileCache, digest: str, outcome: tuple[bool, Any]) -> tuple[bool, Any]:
    if outcome[0]:
        cache.put(digest, outcome[1])
    return outcome


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=None if enabled else True, leave=False)
