"""``python -m local.demoapp``: one live Pod of the demo app."""

import sys

from local.demoapp.server import main

sys.exit(main())
