"""`python -m kolejka` runs the command line."""

from kolejka.cli import main

raise SystemExit(main())
