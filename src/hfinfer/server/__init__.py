"""``hfinfer serve``: an OpenAI-compatible gateway to Hugging Face models.

:func:`~hfinfer.server.app.create_app` builds the Starlette app from a
:class:`~hfinfer.server.config.ServerConfig`; the routes talk to hfinfer
through the public client only.
"""
