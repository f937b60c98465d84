"""``python -m jwstnb.service``: run the archive service (see :mod:`jwstnb.service.server`)."""

import sys

from jwstnb.service.server import main

if __name__ == "__main__":
    sys.exit(main())
