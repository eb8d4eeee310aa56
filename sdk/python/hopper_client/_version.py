"""The package version; it follows the API's (sdk/VERSION)."""

__version__ = "1.1.0"
