"""Allow `python -m participate`."""

from participate.cli import main

main()
