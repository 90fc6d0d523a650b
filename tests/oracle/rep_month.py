"""kpi_rep_month computed by hand from the extract files.

The oracle of tests/warehouse/test_kpi_mart.py: plain Python (csv + Decimal) on the demo's CSV
extracts, following the KPI definitions of the brief and docs/data_quality.md: one row per person,
team of the day and month, the days' facts summed (the performance oracle's day facts, every fact
attributed), and the rep's revenue objective of kpi_objectives for those days in that team (the
objectives' oracle, on working days). Nothing here reads the dbt models' SQL or output.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tests.oracle.files import is_true as _true
from tests.oracle.files import latest_rows
from tests.oracle.measures import ACTIVITY_TYPES, UNASSIGNED
from tests.oracle.objectives import expected_objectives, read_demo
from tests.oracle.performance import PerformanceDemo

# the objective's columns kpi_rep_month reads from kpi_objectives (revenue, month, rep level)
OBJECTIVE_COLUMNS = {
    "revenue_target": "target",
    "attainment": "attainment",
    "working_days": "working_days",
    "elapsed_working_days": "elapsed_working_days",
    "prorated_target_to_date": "prorated_target_to_date",
    "pace": "pace",
    "status": "status",
}


def expected_kpis(landing: Path, as_of: dt.date) -> dict[tuple[dt.date, str, str], dict]:
    """kpi_rep_month computed from the extracts, keyed by (month_start, rep_id, team_id)."""
    demo = PerformanceDemo(landing, as_of)
    users = {u["Id"]: u for u in latest_rows(landing, "users")}
    roles = {r["Id"]: r for r in latest_rows(landing, "user_roles")}
    objectives = expected_objectives(read_demo(landing, as_of))

    def email(user_id: str | None) -> str | None:
        user = users.get(user_id or "")
        return user["Email"].strip().lower() if user and user["Email"] else None

    def team_manager(team_id: str) -> str | None:
        """The team's active Sales Manager first, then the lowest id (dim_team)."""
        managers = sorted(
            (not _true(u["IsActive"]), uid)
            for uid, u in users.items()
            if u["Title"] == "Sales Manager" and u["UserRoleId"] == team_id
        )
        return email(managers[0][1]) if managers else None

    sums: dict[tuple, dict] = defaultdict(lambda: defaultdict(Decimal))
    for person, day in demo.rep_days():
        bucket = sums[(day.replace(day=1), person, demo.team_on(person, day) or UNASSIGNED)]
        for measure, value in demo.days.get((person, day), {}).items():
            bucket[measure] += value
    expected = {}
    for (month, person, team_id), values in sums.items():
        team = roles.get(team_id, {})
        region = roles.get(team.get("ParentRoleId") or "", {})
        revenue, margin = values["revenue"], values["gross_margin"]
        row = {
            "rep_name": demo.names[person],
            "rep_email": email(person) or (person[4:] if person.startswith("erp:") else None),
            "team_name": team.get("Name", "Unassigned"),
            "region_name": region.get("Name", "Unassigned"),
            "manager_email": team_manager(team_id) or email(users.get(person, {}).get("ManagerId")),
            **{f"{kind}s": int(values[f"{kind}s"]) for kind in ACTIVITY_TYPES},
            "activities": int(values["activities"]),
            "quantity": values["quantity"],
            "revenue": revenue,
            "cost": values["cost"],
            "gross_margin": margin,
            "margin_pct": float(margin / revenue) if revenue != 0 else None,
        }
        objective = objectives.get(("rep", person, team_id, "revenue", "month", month))
        for column, source in OBJECTIVE_COLUMNS.items():
            row[column] = objective[source] if objective else None
        if objective is None:
            row["status"] = "no target"
        expected[(month, person, team_id)] = row
    return expected
