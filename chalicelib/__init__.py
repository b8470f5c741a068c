"""CloudBurst's Lambda code: pure domain modules and thin AWS adapters.

Nothing here imports Chalice; only ``app.py`` does. The Fargate worker imports
``chalicelib.contracts`` (and nothing else from this package) so both sides share one
definition of the batch spec and the per-scene result record.
"""
