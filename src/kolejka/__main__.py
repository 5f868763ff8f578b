"""`python -m kolejka` runs the command line."""

from kolejka.cli.main import main

raise SystemExit(main())
