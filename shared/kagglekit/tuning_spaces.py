"""Moved to :mod:`kagglekit.tuning.spaces`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.tuning.spaces")
