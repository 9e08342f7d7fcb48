import sys

from nvcview.cli import main

sys.exit(main())
