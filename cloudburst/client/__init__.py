"""What a user runs: submit, follow, fetch and cancel jobs with S3 alone; list and stop tasks.

One module per job (``submit``, ``watch``, ``fetch``, ``cancel`` …); the ``cloudburst``
command (:mod:`cloudburst.client.commands`) and the earlier tools' Python API
(:mod:`cloudburst.client.api`) are thin layers over them. Nothing is imported here, so
``import cloudburst`` stays cheap.
"""
