"""Task-run ownership for stores: a task run belongs to the tenant that first wrote it.

A store learns the owners of a batch's task runs (its runs index; the first writer's
tenant, kept for good), and :func:`keep_owned` drops the records another tenant sent
under an owned task run id, counted in ``tasklogs_store_refused_foreign_log_records_total``.
So one record with another tenant's task run id can neither lock the owner out nor
mix its lines into the owner's task. Work is per distinct resource (resource dicts are
shared by reference between the records of one resource), not per record, unless some
record must go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from collector_service.component.model import LogBatch
from collector_service.metrics import STORE_REFUSED_FOREIGN
from otel_sdk_ext.semconv import TASK_RUN_ID, TENANT

__all__ = ["keep_owned", "owner_claims"]

_COLUMNS = tuple(f.name for f in fields(LogBatch) if f.name != "token")


def owner_claims(batch: LogBatch) -> dict[str, list[str]]:
    """Task run id -> the tenants writing it in ``batch``, the first one first."""
    claims: dict[str, list[str]] = {}
    for res in {id(r): r for r in batch.resource_attributes}.values():
        tid = res.get(TASK_RUN_ID, "")
        if not tid:
            continue
        tenants = claims.setdefault(tid, [])
        tenant = res.get(TENANT, "")
        if tenant not in tenants:
            tenants.append(tenant)
    return claims


def keep_owned(
    batch: LogBatch, claims: Mapping[str, list[str]], owners: Mapping[str, str], *, store: str
) -> LogBatch:
    """``batch`` without records of task runs owned by another tenant than theirs.

    ``owners``: the stored owner of each task run that has one; a task run without one
    belongs to the first tenant that writes it in this batch.
    """
    foreign = {
        (tid, tenant)
        for tid, tenants in claims.items()
        for tenant in tenants
        if tenant != owners.get(tid, tenants[0])
    }
    if not foreign:
        return batch
    res_col = batch.resource_attributes
    keep = [
        i
        for i, res in enumerate(res_col)
        if (res.get(TASK_RUN_ID, ""), res.get(TENANT, "")) not in foreign
    ]
    refused = len(batch) - len(keep)
    STORE_REFUSED_FOREIGN.labels(store).inc(refused)
    out = LogBatch(token=batch.token)
    for name in _COLUMNS:
        column = getattr(batch, name)
        # An optional column a decoder left empty stays empty (LogBatch.columns fills it).
        setattr(out, name, [column[i] for i in keep] if column else [])
    return out
