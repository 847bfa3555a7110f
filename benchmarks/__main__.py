import sys

from benchmarks.run import main

if __name__ == "__main__":  # the training workers are spawned: they import, never run, this
    sys.exit(main())
