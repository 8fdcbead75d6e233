"""``python -m eldercare`` is the ``eldercare`` command."""

from eldercare.cli import main

main()
