"""One exception type for every mistake a user can make; the CLI prints it without a traceback."""

from contextlib import contextmanager


class MidigenError(Exception):
    """A user-facing error: what is wrong, where, and what to do about it.

    ``str(err)`` is the whole message; ``hint`` (optional) says how to fix it.
    """

    label = "Error"  # how the CLI introduces the message
    hint_label = "fix"  # what the hint line starts with
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  {self.hint_label}: {hint}")


def require_path(path, what: str, hint: str, *, file: bool = False):
    """``Path(path)``, or ``MidigenError("{what} {path} does not exist", hint=hint)`` when it is
    missing (with ``file=True``: when it is not a regular file)."""
    from pathlib import Path

    path = Path(path)
    if not (path.is_file() if file else path.exists()):
        raise MidigenError(f"{what} {path} does not exist", hint=hint)
    return path


@contextmanager
def reading(message: str, hint: str | None = None, errors=Exception):
    """Turn ``errors`` raised inside the block into ``MidigenError(f"{message}: {err}", hint)``
    (a ``MidigenError`` passes through unchanged)::

        with reading(f"cannot read the primer {path}", hint="give a MIDI file with --primer"):
            notes = read_notes(path)
    """
    try:
        yield
    except MidigenError:
        raise
    except errors as err:  # some errors say nothing (str(err) == ""): then name their kind
        raise MidigenError(f"{message}: {str(err) or type(err).__name__}", hint=hint) from err
