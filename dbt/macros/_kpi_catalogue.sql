{#-
    Generated from dbt/kpis.yml by `python -m pilotage.kpi_catalogue --write`.
    Do not edit: change dbt/kpis.yml and regenerate (tests/test_kpi_catalogue.py checks).
-#}

{#- The SQL expression that computes a KPI's mart column (its catalogue row_formula). -#}
{% macro kpi(name) -%}
    {%- if name == 'calls' -%}
        sum(case when activity_type = 'call' then 1 else 0 end)
    {%- elif name == 'emails' -%}
        sum(case when activity_type = 'email' then 1 else 0 end)
    {%- elif name == 'meetings' -%}
        sum(case when activity_type = 'meeting' then 1 else 0 end)
    {%- elif name == 'proposals' -%}
        sum(case when activity_type = 'proposal' then 1 else 0 end)
    {%- elif name == 'quotes' -%}
        sum(case when activity_type = 'quote' then 1 else 0 end)
    {%- elif name == 'contracts' -%}
        sum(case when activity_type = 'contract' then 1 else 0 end)
    {%- elif name == 'activities' -%}
        count(*)
    {%- elif name == 'quantity' -%}
        sum(quantity)
    {%- elif name == 'revenue' -%}
        sum(revenue)
    {%- elif name == 'cost' -%}
        sum(cost)
    {%- elif name == 'gross_margin' -%}
        sum(gross_margin)
    {%- elif name == 'margin_pct' -%}
        case
            when revenue = 0 then null
            else cast(gross_margin as {{ type_double() }}) / cast(revenue as {{ type_double() }})
        end
    {%- elif name == 'meetings_held' -%}
        sum(case when activity_type = 'meeting' and status = 'Held' then 1 else 0 end)
    {%- elif name == 'activities_per_working_day' -%}
        case
            when working_days = 0 then null
            else cast(activities as {{ type_double() }}) / working_days
        end
    {%- elif name == 'meetings_per_working_day' -%}
        case
            when working_days = 0 then null
            else cast(meetings as {{ type_double() }}) / working_days
        end
    {%- elif name == 'new_opportunities' -%}
        count(*)
    {%- elif name == 'won_opportunities' -%}
        sum(case when is_won then 1 else 0 end)
    {%- elif name == 'lost_opportunities' -%}
        sum(case when is_lost then 1 else 0 end)
    {%- elif name == 'won_amount' -%}
        sum(case when is_won then amount else 0 end)
    {%- elif name == 'lost_amount' -%}
        sum(case when is_lost then amount else 0 end)
    {%- elif name == 'won_cycle_days' -%}
        sum(case when is_won then cycle_days else 0 end)
    {%- elif name == 'calls_to_meetings' -%}
        case
            when calls = 0 then null
            else cast(meetings as {{ type_double() }}) / calls
        end
    {%- elif name == 'meetings_to_opportunities' -%}
        case
            when meetings = 0 then null
            else cast(new_opportunities as {{ type_double() }}) / meetings
        end
    {%- elif name == 'proposals_to_won' -%}
        case
            when proposals = 0 then null
            else cast(won_opportunities as {{ type_double() }}) / proposals
        end
    {%- elif name == 'quotes_to_won' -%}
        case
            when quotes = 0 then null
            else cast(won_opportunities as {{ type_double() }}) / quotes
        end
    {%- elif name == 'win_rate' -%}
        case
            when won_opportunities + lost_opportunities = 0 then null
            else
                cast(won_opportunities as {{ type_double() }})
                / (won_opportunities + lost_opportunities)
        end
    {%- elif name == 'win_rate_by_value' -%}
        case
            when won_amount + lost_amount = 0 then null
            else
                cast(won_amount as {{ type_double() }})
                / cast(won_amount + lost_amount as {{ type_double() }})
        end
    {%- elif name == 'average_deal_size' -%}
        case
            when won_opportunities = 0 then null
            else cast(won_amount as {{ type_double() }}) / won_opportunities
        end
    {%- elif name == 'sales_cycle_days' -%}
        case
            when won_opportunities = 0 then null
            else cast(won_cycle_days as {{ type_double() }}) / won_opportunities
        end
    {%- elif name == 'open_opportunities' -%}
        count(*)
    {%- elif name == 'open_qualified_opportunities' -%}
        sum(case when stage_order >= 2 then 1 else 0 end)
    {%- elif name == 'open_pipeline' -%}
        sum(amount)
    {%- elif name == 'weighted_pipeline' -%}
        sum(amount * probability / 100)
    {%- elif name == 'open_in_period_pipeline' -%}
        sum(case when close_date between period_start and period_end then amount else 0 end)
    {%- elif name == 'sales_velocity' -%}
        case
            when won_opportunities = 0 or won_cycle_days = 0 then null
            else
                cast(open_qualified_opportunities as {{ type_double() }})
                * (cast(won_opportunities as {{ type_double() }})
                    / (won_opportunities + lost_opportunities))
                * (cast(won_amount as {{ type_double() }}) / won_opportunities)
                / (cast(won_cycle_days as {{ type_double() }}) / won_opportunities)
        end
    {%- elif name == 'revenue_growth_same_point' -%}
        case
            when revenue_prev_same_point = 0 then null
            else
                cast(revenue - revenue_prev_same_point as {{ type_double() }})
                / cast(revenue_prev_same_point as {{ type_double() }})
        end
    {%- elif name == 'activities_growth_same_point' -%}
        case
            when activities_prev_same_point = 0 then null
            else
                cast(activities - activities_prev_same_point as {{ type_double() }})
                / activities_prev_same_point
        end
    {%- elif name == 'won_amount_growth_same_point' -%}
        case
            when won_amount_prev_same_point = 0 then null
            else
                cast(won_amount - won_amount_prev_same_point as {{ type_double() }})
                / cast(won_amount_prev_same_point as {{ type_double() }})
        end
    {%- elif name == 'next_step_conversion' -%}
        case
            when entered = 0 then null
            else cast(advanced as {{ type_double() }}) / entered
        end
    {%- elif name == 'cumulative_conversion' -%}
        case
            when cohort_opportunities = 0 then null
            else cast(reached_from_cohort as {{ type_double() }}) / cohort_opportunities
        end
    {%- elif name == 'avg_days_in_stage' -%}
        case
            when exited = 0 then null
            else cast(days_in_stage as {{ type_double() }}) / exited
        end
    {%- elif name == 'revenue_target' -%}
        sum(target_value)
    {%- elif name == 'attainment' -%}
        case
            when revenue_target is null or revenue_target = 0 then null
            else cast(revenue as {{ type_double() }}) / cast(revenue_target as {{ type_double() }})
        end
    {%- elif name == 'prorated_target_to_date' -%}
        revenue_target * elapsed_days / days_in_month
    {%- elif name == 'pace' -%}
        case
            when revenue_target is null or revenue_target = 0 or elapsed_days = 0 then null
            else
                cast(revenue as {{ type_double() }}) * days_in_month
                / (cast(revenue_target as {{ type_double() }}) * elapsed_days)
        end
    {%- elif name == 'pipeline_coverage' -%}
        case
            when target - actual > 0
                then cast(open_in_period_pipeline as {{ type_double() }}) / (target - actual)
        end
    {%- elif name == 'objective_target' -%}
        sum(daily_target)
    {%- elif name == 'objective_target_to_date' -%}
        sum(case when is_elapsed then daily_target else 0 end)
    {%- elif name == 'objective_attainment' -%}
        case when target <> 0 then actual / target end
    {%- elif name == 'objective_pace' -%}
        case
            when target is null or target = 0 or prorated_target_to_date = 0 then null
            else actual / prorated_target_to_date
        end
    {%- elif name == 'run_rate_projection' -%}
        case
            when elapsed_working_days > 0
                then actual * working_days / elapsed_working_days
        end
    {%- elif name == 'required_daily_rate' -%}
        case
            when target is not null and remaining_working_days > 0
                then greatest(target - actual, 0) / remaining_working_days
        end
    {%- elif name == 'gap' -%}
        actual - target
    {%- elif name == 'gap_pct' -%}
        case when target <> 0 then (actual - target) / target end
    {%- elif name == 'invoicing_timing_effect' -%}
        revenue - bookings
    {%- elif name == 'revenue_effect' -%}
        (revenue - revenue_target_to_date) * target_margin_rate
    {%- elif name == 'margin_rate_effect' -%}
        gap_to_date - revenue_effect
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "KPI '" ~ name ~ "' has no row_formula in dbt/kpis.yml"
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- A KPI's threshold (level red or green; amber lies in between), as a SQL number. -#}
{% macro kpi_threshold(name, level) -%}
    {%- set thresholds = {
        'pace': {'red': 0.9, 'green': 1.0},
        'objective_attainment': {'red': 0.9, 'green': 1.0},
        'objective_pace': {'red': 0.9, 'green': 1.0}
    } -%}
    {%- if name not in thresholds or level not in thresholds[name] -%}
        {{ exceptions.raise_compiler_error(
            "KPI '" ~ name ~ "' has no threshold '" ~ level ~ "' in dbt/kpis.yml"
        ) }}
    {%- endif -%}
    {{ thresholds[name][level] }}
{%- endmacro %}
