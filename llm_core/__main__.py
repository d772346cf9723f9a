import sys

from llm_core.cli import main

sys.exit(main())
