"""The upload page (``alm-batch serve``): see ``app.py`` for the routes, ``engine.py`` for the
one module that talks to the job engine, ``server.py`` for starting and stopping it."""

from batch.web.server import ServeOptions, serve

__all__ = ["ServeOptions", "serve"]
