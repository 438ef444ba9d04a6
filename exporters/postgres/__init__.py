"""PostgreSQL store (psycopg 3, COPY, daily range partitions). Not built yet: see the issue.

The package exists so the layout of design.md holds from the first landing; it registers
no exporter until it can write.
"""

__all__: list[str] = []
