"""``python -m threadline`` is the ``threadline`` command."""

import sys

from threadline.cli import main

sys.exit(main())
