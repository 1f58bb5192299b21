"""`python -m thidua` runs the command line."""

from thidua.cli.main import main

main()
