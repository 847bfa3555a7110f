"""What the commands show on the console: no TensorFlow start-up chatter, progress bars only on
a terminal.

TensorFlow's C++ side prints six lines while ``import tensorflow`` runs (absl's "WARNING: All log
messages before absl::InitializeLog()", oneDNN, cudart, CPU features), straight to file
descriptor 2 and regardless of ``TF_CPP_MIN_LOG_LEVEL``. ``quiet_tensorflow_import()`` makes the
first import of tensorflow (whoever triggers it: keras, a model module) run with descriptor 2
captured; afterwards the captured lines that are not that chatter are written back to stderr,
so a real error stays visible. Nothing is imported before it is needed.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
from typing import Iterator

CHATTER = ("I0000 ", "W0000 ", "WARNING: All log messages before absl::InitializeLog()",
           "To enable the following instructions:")


def is_chatter(line: str) -> bool:
    """A start-up line of TensorFlow's C++ logging (absl, oneDNN, cudart, CPU features, and
    the failed ``cuInit`` of a machine without a GPU driver)."""
    return line.startswith(CHATTER) or (line.startswith("E0000 ") and "failed call to cuInit" in line)


@contextlib.contextmanager
def captured_stderr_fd() -> Iterator[None]:
    """Run the block with descriptor 2 going to a temporary file, then replay every line of it
    that is not TensorFlow chatter to the real stderr."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            keep = "".join(line for line in text.splitlines(keepends=True) if not is_chatter(line))
            if keep:
                os.write(2, keep.encode("utf-8"))


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.inner  # look untouched afterwards
        with captured_stderr_fd():
            self.inner.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first ``import tensorflow``, then steps aside."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Keep TensorFlow's start-up chatter off stderr (call before anything imports it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())


def keras_verbosity() -> int:
    """``fit``'s ``verbose``: the progress bar on a terminal, one line per epoch otherwise (a log
    file or a pipe gets no carriage returns or ANSI escapes)."""
    try:
        return 1 if sys.stdout.isatty() else 2
    except (AttributeError, ValueError):
        return 2


@contextlib.contextmanager
def interrupt_notice(echo, message: str) -> Iterator[None]:
    """Say ``message`` the moment Ctrl-C (or SIGTERM) arrives, while the block runs.

    Python raises ``KeyboardInterrupt`` only when the main thread runs Python again, and a
    training step, or the compilation of the first one, runs in TensorFlow's C++ for seconds
    to minutes: without a word the program looks hung. The C-level signal handler writes the
    signal's number to the wakeup descriptor (``signal.set_wakeup_fd``) at once, whatever the
    main thread is doing; a thread waiting on it says ``message`` (once). The main thread still
    handles the signal as before. Main thread only; elsewhere the block runs as it is."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        os.close(read), os.close(write)
        yield
        return
    wanted = {int(signal.SIGINT), int(signal.SIGTERM)}

    def watch():
        said = False
        while True:
            try:
                got = os.read(read, 64)
            except OSError:
                return
            if not got:  # the write end closed: the block is over
                return
            if not said and wanted & set(got):
                said = True
                echo(message)

    watcher = threading.Thread(target=watch, name="interrupt-notice", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write)
        watcher.join(timeout=5)
        os.close(read)
