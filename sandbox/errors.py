"""Every error the sandbox raises, in one tree.

    SandboxError                    one sentence a learner can act on
    ├── KernelCallError             a system call failed: names the call, its arguments and errno
    ├── NotFound                    an image, a container or a file that is not there
    │   ├── ImageNotFound
    │   ├── ContainerNotFound
    │   └── VolumeNotFound
    ├── Conflict                    a name already in use, a container in the wrong state
    ├── MissingFeature              the kernel or the user lacks something (says how to get it)
    └── UsageError                  a bad flag or argument on the command line
        └── NotATerminal            -it without a terminal on stdin (exit code 1, as Docker)

The command line prints ``str(error)`` after ``sandbox:`` and exits non-zero;
notebooks see the exception itself, whose fields (``call``, ``errno``, ...)
can be inspected.
"""

from __future__ import annotations

import errno as _errno
import os


class SandboxError(Exception):
    """The base of every error the sandbox raises on purpose."""

    exit_code = 125  # what `docker run` returns when the daemon, not the container, failed


class KernelCallError(SandboxError, OSError):
    """A system call failed.

    The message names the call with its arguments, the errno's symbolic name,
    and, where the man page explains that errno for this call, why:
    ``pivot_root('/x', '/x/.old'): EINVAL: new_root must be a mount point``.
    """

    def __init__(self, call: str, args: tuple, err: int, why: str = ""):
        self.call = call
        self.args_ = args
        self.errno = err
        self.errno_name = _errno.errorcode.get(err, str(err))
        shown = ", ".join(repr(a) for a in args)
        reason = why or os.strerror(err)
        self.message = f"{call}({shown}): {self.errno_name}: {reason}"
        self._why = why
        Exception.__init__(self, self.message)

    def __reduce__(self):
        # So the error can travel from a child process back to a notebook (pickle).
        return (type(self), (self.call, self.args_, self.errno, self._why))

    def __str__(self) -> str:
        return self.message


class NotFound(SandboxError):
    """Something named by the user does not exist."""


class ImageNotFound(NotFound):
    """No image by that name or id in the local store."""


class ContainerNotFound(NotFound):
    """No container by that name or id prefix."""


class VolumeNotFound(NotFound):
    """No volume by that name."""


class Conflict(SandboxError):
    """The request clashes with the current state (a name in use, a running container)."""


class MissingFeature(SandboxError):
    """The kernel, the machine or the user lacks what the request needs."""


class UsageError(SandboxError):
    """The command line was malformed: an unknown flag, a missing argument."""

    exit_code = 125


class NotATerminal(UsageError):
    """``-it`` asked for a terminal, but the caller's stdin is not one (``echo x | run -it``)."""

    exit_code = 1  # as docker run's "the input device is not a TTY"
