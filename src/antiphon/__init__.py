"""antiphon: a self-hosted Claude API over open-weight models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("antiphon")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
