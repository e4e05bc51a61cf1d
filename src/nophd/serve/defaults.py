"""Where `nophd serve` listens unless told otherwise.

Kept in a module of its own that imports nothing, so that the CLI can show
these defaults in its --help without importing the web framework, and the
server can use them without importing the CLI (imports flow one way:
the CLI imports the library, never the reverse).
"""

# Loopback only: a dashboard that reads run folders and answers predictions
# is not for the network unless someone says so (--host 0.0.0.0).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
