"""nophd's version, in a leaf module: run files and reports record it without importing the package's API."""

__version__ = "0.1.0"
