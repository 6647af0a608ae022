"""A check's report on the portal: where a blocked merge's "report" link leads.

The details are whatever JSON the reporter sent (the pipeline's checks: counts, missing
paths, PHI findings per file without their values), so the page lays out its shape rather
than one schema: plain values as facts, lists of records as tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from imagehub.core.errors import NotFound
from imagehub.services import checks
from imagehub_api.deps import DatasetDep, SessionDep
from imagehub_api.security import Policy, requires
from imagehub_api.web.dataset import frame
from imagehub_api.web.render import page

router = APIRouter(prefix="/{owner}/{name}/commits/{commit}/checks", include_in_schema=False)
ROWS_SHOWN = 500  # per table; the REST API returns the whole report
LEADING = ("path", "file", "name")  # what a finding is about goes first (stored reports sort their keys)


@dataclass
class Table:
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more: int = 0

    def add(self, record: dict[str, Any]) -> None:
        if len(self.rows) >= ROWS_SHOWN:
            self.more += 1
            return
        new = [k for k in record if k not in self.columns]
        self.columns += sorted(new, key=lambda k: k not in LEADING)
        self.rows.append([_cell(record.get(c)) for c in self.columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def layout(details: dict[str, Any]) -> tuple[list[tuple[str, str]], list[Table]]:
    """Facts (key, value) and tables: a list of records is a table; a mapping of keys (paths) to
    lists of records is one table with that key as its first column."""
    facts: list[tuple[str, str]] = []
    tables: list[Table] = []
    for key, value in details.items():
        if _records(value):
            table = Table(key)
            for record in value:
                table.add(record)
            tables.append(table)
        elif isinstance(value, dict) and value and all(_records(v) for v in value.values()):
            table = Table(key, columns=["path"])
            for path, records in value.items():
                for record in records:
                    table.add({"path": path, **record})
            tables.append(table)
        else:
            facts.append((key, _cell(value)))
    for table in tables:  # rows added before a later record brought a new column
        for row in table.rows:
            row += [""] * (len(table.columns) - len(row))
    return facts, tables


@router.get("/{check}", response_class=HTMLResponse, operation_id="portal-check-report")
@requires(Policy.DATASET_READ)
def report(request: Request, ctx: DatasetDep, session: SessionDep, commit: str, check: str) -> HTMLResponse:
    """One check's result on a commit: status, summary, its findings, and the run that made it."""
    target = ctx.repo.resolve(commit)
    found = checks.result(session, ctx.dataset, target.id, check)
    if found is None:
        raise NotFound(f"no result of check {check!r} on {target.id[:12]}")
    details = json.loads(found.details)
    facts, tables = layout(details if isinstance(details, dict) else {"details": details})
    context = {
        **frame(ctx, "commits", commit, target),
        "check": found,
        "facts": facts,
        "tables": tables,
        "others": [r for r in checks.results(session, ctx.dataset, target.id) if r.name != check],
    }
    return page(request, "check.html", context)
