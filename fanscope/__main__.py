"""`python -m fanscope`: the fanscope command."""

import sys

from fanscope.cli import main

sys.exit(main())
