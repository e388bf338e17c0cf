"""Moved to :mod:`kagglekit.data.sources`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.data.sources")
