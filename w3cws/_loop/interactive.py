"""Interactive prompts serve the main thread's loop while they wait for input.

A browser console runs the page's events between the statements typed into
it, never in the middle of one. The same holds here: when a socket or a
timer is first made at an interactive prompt, the main thread's
:class:`~w3cws._loop.loop.ThreadLoop` is hooked into the prompt's wait.

- The ``python`` REPL (and ``python -i``): CPython calls ``PyOS_InputHook``
  before it reads each line, with readline and with the plain stdio reader
  (so also when stdin is a pipe). The hook, set through ctypes, serves the
  loop until stdin is readable, as tkinter's event hook does; with a pipe
  that is at once, after the events that were ready ran.
- The new REPL of Python 3.13+ (``_pyrepl``) calls the same hook before each
  key it handles and every 100 ms while it waits, but reads ahead into a
  buffer of its own: waiting there for stdin would stall pasted text until
  the next key press. Called from it, the hook runs what is ready and
  returns, with the terminal's output processing on (the REPL keeps it off,
  so a listener's ``print`` would lose its carriage returns).
- Terminal IPython reads with prompt_toolkit, which calls an input hook
  registered with ``IPython.terminal.pt_inputhooks`` while it waits; with
  its simple prompt (stdin not a terminal) it reads with ``input()``, which
  calls ``PyOS_InputHook`` only on a terminal, so the loop also serves what
  is ready after each cell (IPython's ``post_execute`` event).
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import logging
import select
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if sys.platform != "win32":
    import termios

if TYPE_CHECKING:
    from w3cws._loop.loop import ThreadLoop

__all__ = ["install_if_interactive"]

_log = logging.getLogger("w3cws.runtime")

_HOOK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int)


class _State:
    __slots__ = ("c_hook", "loop")

    def __init__(self) -> None:
        self.loop: ThreadLoop | None = None
        # The ctypes function object must outlive its use by the interpreter.
        self.c_hook: Any = None


_state = _State()


def _readable(fd: int, wait: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], wait)
    except (OSError, ValueError):  # stdin closed: let the reader see it
        return True
    return bool(ready)


def _called_by_pyrepl() -> bool:
    """Whether the hook's caller is Python code of the new REPL (3.13+)."""
    here = inspect.currentframe()
    # Up from here: this function, the hook, then whoever called the hook.
    caller = here.f_back.f_back if here is not None and here.f_back is not None else None
    return caller is not None and str(caller.f_globals.get("__name__", "")).startswith("_pyrepl")


@contextlib.contextmanager
def _output_processing(fd: int) -> Iterator[None]:
    """The terminal at ``fd`` processes output meanwhile: a newline also returns the carriage."""
    if sys.platform == "win32":
        yield
        return
    try:
        attributes = termios.tcgetattr(fd)
    except (termios.error, OSError):  # not a terminal
        yield
        return
    oflag = attributes[1]
    wanted = oflag | termios.OPOST | termios.ONLCR
    if wanted == oflag:
        yield
        return
    termios.tcsetattr(fd, termios.TCSANOW, [attributes[0], wanted, *attributes[2:]])
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, attributes)


def _stdin_hook() -> int:
    # Called by the interpreter (GIL taken by ctypes) before each line read,
    # by whichever thread reads: python -m asyncio reads on a thread of its
    # own while the main thread's asyncio loop serves the main thread's loop.
    loop = _state.loop
    if loop is not None and loop.thread is threading.current_thread():
        try:
            if _called_by_pyrepl():
                with _output_processing(1):
                    loop.drain()
            else:
                loop.serve_until(lambda wait: _readable(0, wait))
        except KeyboardInterrupt:
            # Ctrl-C at the prompt: this hook took the signal, so the line
            # being typed stays; say so, and go back to reading.
            sys.stderr.write("\nKeyboardInterrupt\n")
        except BaseException:  # must not escape into C
            _log.exception("the w3cws prompt hook failed")
    return 0


def _ipython_hook(context: Any) -> None:
    loop = _state.loop
    if loop is not None:
        fd = context.fileno()
        loop.serve_until(lambda wait: _readable(fd, wait))


def _terminal_ipython() -> Any:
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
        from IPython.terminal.interactiveshell import TerminalInteractiveShell
    except ImportError:
        return None
    shell = get_ipython()
    return shell if isinstance(shell, TerminalInteractiveShell) else None


def install_if_interactive(loop: ThreadLoop) -> None:
    """Serve ``loop`` at the prompt, if it is the main thread's and a prompt is there."""
    if loop.thread is not threading.main_thread() or _state.loop is not None:
        return
    shell = _terminal_ipython()
    if shell is not None and not shell.simple_prompt:
        if shell.active_eventloop is not None:
            _log.info(
                "IPython runs the %s event loop at its prompt; not adding w3cws's",
                shell.active_eventloop,
            )
            return
        from IPython.terminal import pt_inputhooks

        _state.loop = loop
        register: Any = pt_inputhooks.register  # untyped in IPython
        register("w3cws", _ipython_hook)
        shell.enable_gui("w3cws")
        return
    if shell is not None:
        # IPython's simple prompt (stdin not a terminal) reads with input(),
        # which calls the input hook only on a terminal: also serve after
        # each cell, as the plain REPL does between piped statements.
        shell.events.register("post_execute", loop.drain)
    elif not (hasattr(sys, "ps1") or sys.flags.interactive):
        return
    pointer = ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")
    if pointer.value:
        _log.info("another input hook (e.g. tkinter's) serves the prompt; not adding w3cws's")
        return
    _state.loop = loop
    _state.c_hook = _HOOK_TYPE(_stdin_hook)
    pointer.value = ctypes.cast(_state.c_hook, ctypes.c_void_p).value
