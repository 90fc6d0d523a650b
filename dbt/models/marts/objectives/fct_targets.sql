-- One row per version of a CRM sales target with the days it is in force (valid_from inclusive,
-- valid_to exclusive): the history of objectives. The rule is in int_targets__versions and
-- docs/driver_tree.md; the marts use the version in force (int_targets__in_force).
select
    sales_target_id,
    version_number,
    target_level,
    rep_id,
    team_id,
    owner_id,
    metric,
    period_type,
    period_start,
    period_end,
    target_value,
    is_deleted,
    valid_from,
    valid_to,
    is_latest_version,
    last_modified_at
from {{ ref('int_targets__versions') }}
