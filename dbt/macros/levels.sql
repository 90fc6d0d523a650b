{#-
    The levels of the KPI marts (kpi_performance, kpi_funnel) and the column of `relation` that
    names a row's member at each: every level sums the same rows, so every level adds up to the
    company.
-#}
{% macro kpi_levels() -%}
    {{ return([
        ('rep', 'rep_id'), ('team', 'team_id'), ('region', 'region_id'), ('company', none)
    ]) }}
{%- endmacro %}

{#-
    One row per level, member and `group_by` columns: `measures` summed over the rows of
    `relation` (which carry rep_id, team_id and region_id), and the `aggregates` (a list of
    (column, aggregate expression) pairs) computed at each level from the same rows. The company
    is a constant member, not a grouping column (Postgres cannot group by a constant).
-#}
{% macro roll_up_levels(relation, measures, group_by, aggregates=[]) -%}
    {%- for level, key in kpi_levels() %}
    select
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        {%- for column, expression in aggregates %}
        {{ expression }} as {{ column }},
        {%- endfor %}
        '{{ level }}' as level,
        {{ key if key else "'company'" }} as member_id,
        {{ group_by | join(', ') }}
    from {{ relation }}
    group by {% if key %}{{ key }}, {% endif %}{{ group_by | join(', ') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
