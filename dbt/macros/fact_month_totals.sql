{#-
    The conservation checks' own reading of the facts (dbt/tests/conservation): per month up to
    the as-of date, every additive KPI measure summed straight from the fact tables, one wide
    row per month. Written from the facts' definitions (docs/kpis.md), not from the marts' SQL,
    so a join or a filter lost in a mart shows as a difference.
-#}
{#- The additive measures of the day base (kpi_rep_day): kpi_performance sums them, the
    conservation gate checks them. -#}
{% macro additive_measures() -%}
    {{ return([
        'calls', 'calls_completed', 'emails', 'meetings', 'meetings_held', 'proposals', 'quotes',
        'contracts', 'activities', 'new_opportunities', 'won_opportunities',
        'lost_opportunities', 'won_amount', 'lost_amount', 'won_cycle_days', 'quantity',
        'revenue', 'cost', 'gross_margin'
    ]) }}
{%- endmacro %}

{% macro fact_month_totals() -%}
    {%- set measures = additive_measures() %}
    {%- set activity_types = {
        'calls': "activity_type = 'call'",
        'calls_completed': "activity_type = 'call' and status = 'Completed'",
        'emails': "activity_type = 'email'",
        'meetings': "activity_type = 'meeting'",
        'meetings_held': "activity_type = 'meeting' and status = 'Held'",
        'proposals': "activity_type = 'proposal'",
        'quotes': "activity_type = 'quote'",
        'contracts': "activity_type = 'contract'",
        'activities': 'true'
    } %}
    select
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }},
        {%- endfor %}
        month_start
    from (
        select
            {%- for measure in measures %}
            {%- if measure in activity_types %}
            case when {{ activity_types[measure] }} then 1 else 0 end as {{ measure }},
            {%- else %}
            0 as {{ measure }},
            {%- endif %}
            {%- endfor %}
            {{ month_start('activity_date') }} as month_start
        from {{ ref('fct_activities') }}
        where activity_date <= {{ as_of_date() }}
        union all
        select
            {%- for measure in measures %}
            {{ 1 if measure == 'new_opportunities' else 0 }} as {{ measure }},
            {%- endfor %}
            {{ month_start('created_date') }} as month_start
        from {{ ref('fct_opportunities') }}
        where created_date <= {{ as_of_date() }}
        union all
        select
            {%- for measure in measures %}
            {%- if measure == 'won_opportunities' %}
            case when is_won then 1 else 0 end as {{ measure }},
            {%- elif measure == 'lost_opportunities' %}
            case when is_lost then 1 else 0 end as {{ measure }},
            {%- elif measure == 'won_amount' %}
            case when is_won then amount else 0 end as {{ measure }},
            {%- elif measure == 'lost_amount' %}
            case when is_lost then amount else 0 end as {{ measure }},
            {%- elif measure == 'won_cycle_days' %}
            case when is_won then cycle_days else 0 end as {{ measure }},
            {%- else %}
            0 as {{ measure }},
            {%- endif %}
            {%- endfor %}
            {{ month_start('close_date') }} as month_start
        from {{ ref('fct_opportunities') }}
        where is_closed and close_date <= {{ as_of_date() }}
        union all
        select
            {%- for measure in measures %}
            {{ measure if measure in ('quantity', 'revenue', 'cost', 'gross_margin') else 0 }}
                as {{ measure }},
            {%- endfor %}
            month_start
        from {{ ref('fct_revenue') }}
        where invoice_date <= {{ as_of_date() }}
    ) as contributions
    group by month_start
{%- endmacro %}
