"""Moved to :mod:`kagglekit.tuning.pruners`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.tuning.pruners")
