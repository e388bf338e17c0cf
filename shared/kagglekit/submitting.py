"""Moved to :mod:`kagglekit.kaggle.submit`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.kaggle.submit")
