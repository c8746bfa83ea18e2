"""`python -m corpusfilter` runs the command line."""

import sys

from corpusfilter.cli import main

sys.exit(main())
