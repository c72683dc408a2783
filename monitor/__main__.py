"""`python -m monitor ...` is `ccmon ...`."""

import sys

from monitor.cli import main

sys.exit(main())
