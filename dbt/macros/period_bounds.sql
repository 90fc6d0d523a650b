{#-
    Calendar periods of the KPI marts, portable (DuckDB and Postgres). grain: day, week (ISO:
    Monday to Sunday), month or quarter. Quarters and weeks step by 3 months and 7 days:
    Postgres has no 'quarter' or 'week' interval for dateadd.
-#}
{% macro period_grains() -%}
    {{ return(['day', 'week', 'month', 'quarter']) }}
{%- endmacro %}

{#- First day of the period of `grain` that contains the date `column`, as a date. -#}
{% macro period_start(grain, column) -%}
    {%- if grain == 'day' -%}
        cast({{ column }} as date)
    {%- elif grain in ('week', 'month', 'quarter') -%}
        cast({{ dbt.date_trunc(grain, column) }} as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown period grain '" ~ grain ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- First day of the period `steps` periods after (negative: before) the one starting at `start`. -#}
{% macro period_shift(grain, start, steps) -%}
    {%- if grain == 'day' -%}
        cast({{ dbt.dateadd('day', steps, start) }} as date)
    {%- elif grain == 'week' -%}
        cast({{ dbt.dateadd('day', 7 * steps, start) }} as date)
    {%- elif grain == 'month' -%}
        cast({{ dbt.dateadd('month', steps, start) }} as date)
    {%- elif grain == 'quarter' -%}
        cast({{ dbt.dateadd('month', 3 * steps, start) }} as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown period grain '" ~ grain ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- Last day of the period starting at `start`. -#}
{% macro period_end(grain, start) -%}
    cast({{ dbt.dateadd('day', -1, period_shift(grain, start, 1)) }} as date)
{%- endmacro %}
