"""Running the gateway on uvicorn (the one place outside the app that knows it)."""

from __future__ import annotations

__all__ = ["run_uvicorn"]


def run_uvicorn(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve :func:`hfinfer.server.app.app_from_environment` until stopped; each
    worker process builds its app from the environment ``hfinfer serve`` set."""
    import uvicorn

    uvicorn.run(
        "hfinfer.server.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,  # the gateway writes its own, one structured line per request
        timeout_graceful_shutdown=10,
    )
