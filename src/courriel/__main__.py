"""`python -m courriel` is the `courriel` command."""

from courriel.cli.main import main

main()
