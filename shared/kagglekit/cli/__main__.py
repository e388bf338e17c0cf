"""``python -m kagglekit.cli``: the ``kk`` command (torchrun starts ``kk train --nproc`` so)."""

from kagglekit.cli import main

main()
