"""`python -m tenure.cli`."""

from tenure.cli import main

if __name__ == "__main__":
    main()
