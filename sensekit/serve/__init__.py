"""``sensekit serve``: the models over a local HTTP API, with a web page to try them.

One endpoint per task of the task table (``POST /v1/<task>``), ``GET /v1/models``,
``GET /health``, the OpenAPI document at ``/openapi.json`` (rendered at ``/docs``) and a
page at ``/``. Needs the ``serve`` extra (Starlette, uvicorn, python-multipart); the web
stack is imported only when a server starts.
"""
