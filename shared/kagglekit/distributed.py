"""Moved to :mod:`kagglekit.torch.distributed`; this path goes in the next release."""

from kagglekit._moved import alias

alias(__name__, "kagglekit.torch.distributed")
