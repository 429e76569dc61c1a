"""``python -m benchmarks.throughput``: run the throughput benchmark."""

import sys

from benchmarks.throughput.cli import main

sys.exit(main())
