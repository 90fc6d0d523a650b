{#-
    The member that receives a fact nobody can be attributed to: an activity or a deal without
    an owner, an invoice without a salesperson, a rep without a team on the event date, a team
    without a region. Every level (rep, team, region) still adds up to the company.
-#}
{% macro unassigned_id() -%}
    '(unassigned)'
{%- endmacro %}

{% macro unassigned_name() -%}
    'Unassigned'
{%- endmacro %}

{#- The rep id of an ERP salesperson e-mail that no CRM user carries. -#}
{% macro erp_salesperson_id(email) -%}
    'erp:' || {{ email }}
{%- endmacro %}

{#- The name of a KPI mart row's member: the rep's, the team's or the region's (from the joined
    relations `reps`, `teams`, `regions`), "Unassigned", "Company". -#}
{% macro member_name(relation) -%}
    case
        when {{ relation }}.level = 'company' then 'Company'
        when {{ relation }}.member_id = {{ unassigned_id() }} then {{ unassigned_name() }}
        when {{ relation }}.level = 'rep' then reps.rep_name
        when {{ relation }}.level = 'team' then teams.team_name
        else regions.region_name
    end
{%- endmacro %}
