"""The package version (read by hatchling for the build)."""

__version__ = "0.1.0.dev0"
