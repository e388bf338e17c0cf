"""Moved to :mod:`kagglekit.training.pseudo`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.training.pseudo")
