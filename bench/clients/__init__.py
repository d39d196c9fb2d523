"""One runner per client; each is run as ``python -m bench.clients.NAME`` in a fresh process."""
