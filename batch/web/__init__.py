"""The upload page (``alm-batch serve``): a view over ``batch.jobs``. See ``app.py`` for the
routes, ``registry.py`` for the uploads and runs the page keeps (each run a ``Job``),
``views.py`` for how a job is shown, ``server.py`` for starting and stopping it."""

from batch.web.server import ServeOptions, serve

__all__ = ["ServeOptions", "serve"]
