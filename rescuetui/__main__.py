"""`python -m rescuetui` runs the command line."""

from rescuetui.cli import main

raise SystemExit(main())
