import sys

from safemix.cli import main

sys.exit(main())
