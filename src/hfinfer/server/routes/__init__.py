"""The gateway's routes, one module per group; each exposes ``routes()``."""
