"""What can go wrong with a sandbox, as exceptions the code execution tool turns into results."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every sandbox error; the message is fit to show to an operator or a model."""


class SandboxUnavailable(SandboxError):
    """This host cannot run sandboxes (no bubblewrap, not root, namespaces disabled…): the
    message says what is missing and how to install or enable it."""


class SandboxPathError(SandboxError):
    """A path outside the sandbox's writable area, through a symlink, missing, or not a
    regular file."""


class SandboxFileTooLarge(SandboxError):
    """A file to read is larger than the caller's limit, or one to write does not fit in the
    sandbox's disk space."""


class SandboxGone(SandboxError):
    """The sandbox was destroyed; nothing more can run in it."""
