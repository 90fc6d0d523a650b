{#-
    One row per day from start_date to end_date inclusive, as column date_day.
    Portable (no generate_series): a cross join of digit rows, filtered to the range.
    Covers up to 100 000 days (about 270 years).
-#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    with digits as (
        select 0 as d union all select 1 union all select 2 union all select 3
        union all select 4 union all select 5 union all select 6 union all select 7
        union all select 8 union all select 9
    ),

    numbers as (
        select
            d1.d
            + d2.d * 10
            + d3.d * 100
            + d4.d * 1000
            + d5.d * 10000 as n
        from digits as d1
        cross join digits as d2
        cross join digits as d3
        cross join digits as d4
        cross join digits as d5
    ),

    bounds as (
        select
            {{ start_date }} as start_date,
            {{ end_date }} as end_date
    )

    select cast({{ dbt.dateadd('day', 'numbers.n', 'bounds.start_date') }} as date) as date_day
    from numbers
    cross join bounds
    where numbers.n <= {{ dbt.datediff('bounds.start_date', 'bounds.end_date', 'day') }}
{%- endmacro %}

{#- Spark: the days generated directly (sequence), not filtered out of 100 000 candidates; no
    row when the range is empty, as above. -#}
{% macro spark__date_spine(start_date, end_date) -%}
    select explode(sequence(bounds.start_date, bounds.end_date, interval 1 day)) as date_day
    from (
        select
            cast({{ start_date }} as date) as start_date,
            cast({{ end_date }} as date) as end_date
    ) as bounds
    where bounds.start_date <= bounds.end_date
{%- endmacro %}
