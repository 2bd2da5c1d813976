import sys

from vae_serve.cli import main

sys.exit(main())
