"""``python -m emotag_cli.cli`` (and ``torchrun -m emotag_cli.cli``): the ``emotag`` command."""

from .entry import main

main()
