"""Federation writes, split by concern.

Layered bottom-up: ``local_jobs`` (our own forwarded jobs, through ``federation.jobs_gateway``) and
``outbox`` (sending); ``jobs`` and ``connections`` on them; ``inbox`` (applying what partners send)
on top. ``nonces`` and ``remote`` stand alone.
"""
