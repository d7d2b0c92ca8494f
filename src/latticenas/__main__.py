import sys

from latticenas.cli import main

sys.exit(main())
