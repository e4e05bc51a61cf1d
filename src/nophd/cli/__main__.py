import sys

from nophd.cli import main

sys.exit(main())
