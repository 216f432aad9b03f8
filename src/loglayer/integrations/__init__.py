"""Web framework middleware: request-scoped fields and one access entry per request.

* :mod:`loglayer.integrations.asgi` — any ASGI application (Starlette, FastAPI, ...);
* :mod:`loglayer.integrations.wsgi` — any WSGI application (Flask, ...);
* :mod:`loglayer.integrations.django` — Django's middleware, sync and async.

Each is a ``LogLayerMiddleware``. For each request it binds ``request_id`` (the
incoming ``x-request-id`` header when it is a sensible id, else a new one), ``method``
and ``path`` as context fields (``loglayer.bind_contextvars``'s mechanism), so every
entry logged while the request is handled carries them, whatever logger logs it; logs
one access entry when the response is complete; and leaves the caller's context as it
found it. Nothing here imports a framework: the Django module imports Django's helpers
when it is itself imported.
"""
