"""``python -m collector run --config FILE``"""

import sys

from collector.cli import main

sys.exit(main())
