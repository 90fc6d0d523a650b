{#-
    The key of an objectives row: a member (level 'rep': an account executive in a team; level
    'team': a team) in a period (month or quarter). A rep who moves mid-period has a row per
    team, so team_id is part of the key.
-#}
{% macro member_period_key() -%}
    {{ return(['level', 'member_id', 'team_id', 'period_grain', 'period_start']) }}
{%- endmacro %}

{#- The join condition of two relations on the same member and period (member_period_key). -#}
{% macro same_member_period(left, right) -%}
    {%- set conditions = [] -%}
    {%- for column in member_period_key() -%}
        {%- do conditions.append(left ~ '.' ~ column ~ ' = ' ~ right ~ '.' ~ column) -%}
    {%- endfor -%}
    {{ conditions | join(' and ') }}
{%- endmacro %}
