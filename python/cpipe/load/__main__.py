import sys

from cpipe.load import main

sys.exit(main())
