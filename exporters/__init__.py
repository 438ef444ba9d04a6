"""tasklogs exporters: one sub-package per store (``clickhouse``, ``postgres``).

Each sub-package exposes a ``factory`` registered under the ``tasklogs.exporters``
entry-point group; see :mod:`collector_service.exporter` for the contract.
"""
