{#-
    Generated from dbt/kpis.yml by `pilotage kpis --write`.
    Do not edit: change dbt/kpis.yml and run `pilotage kpis --write` (make lint checks).
-#}

{#- The SQL expression that computes a KPI's mart column (its catalogue row_formula). -#}
{% macro kpi(name) -%}
    {%- if name == 'calls' -%}
        sum(case when activity_type = 'call' then 1 else 0 end)
    {%- elif name == 'calls_completed' -%}
        sum(case when activity_type = 'call' and status = 'Completed' then 1 else 0 end)
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
        {%- call round_ratio_of() -%}
            case
                when revenue = 0 then null
                else cast(gross_margin as {{ type_double() }}) / cast(revenue as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'meetings_held' -%}
        sum(case when activity_type = 'meeting' and status = 'Held' then 1 else 0 end)
    {%- elif name == 'activities_per_working_day' -%}
        {%- call round_ratio_of() -%}
            case
                when working_days = 0 then null
                else cast(activities as {{ type_double() }}) / working_days
            end
        {%- endcall -%}
    {%- elif name == 'meetings_per_working_day' -%}
        {%- call round_ratio_of() -%}
            case
                when working_days = 0 then null
                else cast(meetings as {{ type_double() }}) / working_days
            end
        {%- endcall -%}
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
        {%- call round_ratio_of() -%}
            case
                when calls = 0 then null
                else cast(meetings as {{ type_double() }}) / calls
            end
        {%- endcall -%}
    {%- elif name == 'meetings_to_opportunities' -%}
        {%- call round_ratio_of() -%}
            case
                when meetings = 0 then null
                else cast(new_opportunities as {{ type_double() }}) / meetings
            end
        {%- endcall -%}
    {%- elif name == 'proposals_to_won' -%}
        {%- call round_ratio_of() -%}
            case
                when proposals = 0 then null
                else cast(won_opportunities as {{ type_double() }}) / proposals
            end
        {%- endcall -%}
    {%- elif name == 'quotes_to_won' -%}
        {%- call round_ratio_of() -%}
            case
                when quotes = 0 then null
                else cast(won_opportunities as {{ type_double() }}) / quotes
            end
        {%- endcall -%}
    {%- elif name == 'win_rate' -%}
        {%- call round_ratio_of() -%}
            case
                when won_opportunities + lost_opportunities = 0 then null
                else
                    cast(won_opportunities as {{ type_double() }})
                    / (won_opportunities + lost_opportunities)
            end
        {%- endcall -%}
    {%- elif name == 'win_rate_by_value' -%}
        {%- call round_ratio_of() -%}
            case
                when won_amount + lost_amount = 0 then null
                else
                    cast(won_amount as {{ type_double() }})
                    / cast(won_amount + lost_amount as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'average_deal_size' -%}
        {%- call round_ratio_of() -%}
            case
                when won_opportunities = 0 then null
                else cast(won_amount as {{ type_double() }}) / won_opportunities
            end
        {%- endcall -%}
    {%- elif name == 'sales_cycle_days' -%}
        {%- call round_ratio_of() -%}
            case
                when won_opportunities = 0 then null
                else cast(won_cycle_days as {{ type_double() }}) / won_opportunities
            end
        {%- endcall -%}
    {%- elif name == 'open_opportunities' -%}
        count(*)
    {%- elif name == 'open_qualified_opportunities' -%}
        sum(case when stage_order >= 2 then 1 else 0 end)
    {%- elif name == 'open_pipeline' -%}
        sum(amount)
    {%- elif name == 'weighted_pipeline' -%}
        {%- call round_ratio_of() -%}
            sum(amount * probability / 100)
        {%- endcall -%}
    {%- elif name == 'open_in_period_pipeline' -%}
        sum(case when close_date between period_start and period_end then amount else 0 end)
    {%- elif name == 'sales_velocity' -%}
        {%- call round_ratio_of() -%}
            case
                when won_opportunities = 0 or won_cycle_days = 0 then null
                else
                    cast(open_qualified_opportunities as {{ type_double() }})
                    * (cast(won_opportunities as {{ type_double() }})
                        / (won_opportunities + lost_opportunities))
                    * (cast(won_amount as {{ type_double() }}) / won_opportunities)
                    / (cast(won_cycle_days as {{ type_double() }}) / won_opportunities)
            end
        {%- endcall -%}
    {%- elif name == 'revenue_growth_same_point' -%}
        {%- call round_ratio_of() -%}
            case
                when revenue_prev_same_point = 0 then null
                else
                    cast(revenue - revenue_prev_same_point as {{ type_double() }})
                    / cast(revenue_prev_same_point as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'activities_growth_same_point' -%}
        {%- call round_ratio_of() -%}
            case
                when activities_prev_same_point = 0 then null
                else
                    cast(activities - activities_prev_same_point as {{ type_double() }})
                    / activities_prev_same_point
            end
        {%- endcall -%}
    {%- elif name == 'won_amount_growth_same_point' -%}
        {%- call round_ratio_of() -%}
            case
                when won_amount_prev_same_point = 0 then null
                else
                    cast(won_amount - won_amount_prev_same_point as {{ type_double() }})
                    / cast(won_amount_prev_same_point as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'revenue_growth_last_year' -%}
        {%- call round_ratio_of() -%}
            case
                when revenue_last_year_same_point = 0 then null
                else
                    cast(revenue - revenue_last_year_same_point as {{ type_double() }})
                    / cast(revenue_last_year_same_point as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'gross_margin_growth_last_year' -%}
        {%- call round_ratio_of() -%}
            case
                when gross_margin_last_year_same_point = 0 then null
                else
                    cast(gross_margin - gross_margin_last_year_same_point as {{ type_double() }})
                    / cast(gross_margin_last_year_same_point as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'activities_growth_last_year' -%}
        {%- call round_ratio_of() -%}
            case
                when activities_last_year_same_point = 0 then null
                else
                    cast(activities - activities_last_year_same_point as {{ type_double() }})
                    / activities_last_year_same_point
            end
        {%- endcall -%}
    {%- elif name == 'won_amount_growth_last_year' -%}
        {%- call round_ratio_of() -%}
            case
                when won_amount_last_year_same_point = 0 then null
                else
                    cast(won_amount - won_amount_last_year_same_point as {{ type_double() }})
                    / cast(won_amount_last_year_same_point as {{ type_double() }})
            end
        {%- endcall -%}
    {%- elif name == 'next_step_conversion' -%}
        {%- call round_ratio_of() -%}
            case
                when entered = 0 then null
                else cast(advanced as {{ type_double() }}) / entered
            end
        {%- endcall -%}
    {%- elif name == 'cumulative_conversion' -%}
        {%- call round_ratio_of() -%}
            case
                when cohort_opportunities = 0 then null
                else cast(reached_from_cohort as {{ type_double() }}) / cohort_opportunities
            end
        {%- endcall -%}
    {%- elif name == 'avg_days_in_stage' -%}
        {%- call round_ratio_of() -%}
            case
                when exited = 0 then null
                else cast(days_in_stage as {{ type_double() }}) / exited
            end
        {%- endcall -%}
    {%- elif name == 'attainment' -%}
        {%- call round_ratio_of() -%}
            case when target <> 0 then actual / target end
        {%- endcall -%}
    {%- elif name == 'prorated_target_to_date' -%}
        round(sum(case when is_elapsed then daily_target else 0 end), 8)
    {%- elif name == 'pace' -%}
        {%- call round_ratio_of() -%}
            case
                when target is null or target = 0 or prorated_target_to_date = 0 then null
                else actual / prorated_target_to_date
            end
        {%- endcall -%}
    {%- elif name == 'pipeline_coverage' -%}
        {%- call round_ratio_of() -%}
            case
                when target - actual > 0
                    then cast(open_in_period_pipeline as {{ type_double() }}) / (target - actual)
            end
        {%- endcall -%}
    {%- elif name == 'objective_target' -%}
        round(sum(daily_target), 8)
    {%- elif name == 'run_rate_projection' -%}
        case
            when elapsed_working_days > 0
                then actual * working_days / elapsed_working_days
        end
    {%- elif name == 'required_daily_rate' -%}
        {%- call round_ratio_of() -%}
            case
                when target is not null and remaining_working_days > 0
                    then greatest(target - actual, 0) / remaining_working_days
            end
        {%- endcall -%}
    {%- elif name == 'gap' -%}
        actual - target
    {%- elif name == 'gap_pct' -%}
        {%- call round_ratio_of() -%}
            case when target <> 0 then (actual - target) / target end
        {%- endcall -%}
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
        'attainment': {'red': 0.9, 'green': 1.0},
        'pace': {'red': 0.9, 'green': 1.0}
    } -%}
    {%- if name not in thresholds or level not in thresholds[name] -%}
        {{ exceptions.raise_compiler_error(
            "KPI '" ~ name ~ "' has no threshold '" ~ level ~ "' in dbt/kpis.yml"
        ) }}
    {%- endif -%}
    {{ thresholds[name][level] }}
{%- endmacro %}

{#- Every KPI: name, labels and the data requirements it is computed from. -#}
{% macro kpi_catalogue() -%}
    {{ return([
        {'name': 'calls', 'label_en': 'Calls', 'label_fr': 'Appels', 'requires': ['calls']},
        {'name': 'calls_completed', 'label_en': 'Calls completed', 'label_fr': 'Appels aboutis', 'requires': ['call_outcomes']},
        {'name': 'emails', 'label_en': 'Emails', 'label_fr': 'E-mails', 'requires': ['emails']},
        {'name': 'meetings', 'label_en': 'Meetings', 'label_fr': 'Rendez-vous', 'requires': ['meetings']},
        {'name': 'proposals', 'label_en': 'Proposals', 'label_fr': 'Propositions commerciales', 'requires': ['proposals']},
        {'name': 'quotes', 'label_en': 'Quotes', 'label_fr': 'Devis', 'requires': ['quotes']},
        {'name': 'contracts', 'label_en': 'Contracts', 'label_fr': 'Contrats', 'requires': ['contracts']},
        {'name': 'activities', 'label_en': 'Activities', 'label_fr': 'Activités', 'requires': ['activities']},
        {'name': 'quantity', 'label_en': 'Quantity', 'label_fr': 'Quantité', 'requires': ['invoices']},
        {'name': 'revenue', 'label_en': 'Revenue', 'label_fr': 'Chiffre d\'affaires', 'requires': ['invoices']},
        {'name': 'cost', 'label_en': 'Cost', 'label_fr': 'Coût des ventes', 'requires': ['invoices', 'costs']},
        {'name': 'gross_margin', 'label_en': 'Gross margin', 'label_fr': 'Marge brute', 'requires': ['invoices', 'costs']},
        {'name': 'margin_pct', 'label_en': 'Margin %', 'label_fr': 'Taux de marge', 'requires': ['invoices', 'costs']},
        {'name': 'meetings_held', 'label_en': 'Meetings held', 'label_fr': 'Rendez-vous tenus', 'requires': ['meeting_outcomes']},
        {'name': 'activities_per_working_day', 'label_en': 'Activities per working day', 'label_fr': 'Activités par jour ouvré', 'requires': ['activities']},
        {'name': 'meetings_per_working_day', 'label_en': 'Meetings per working day', 'label_fr': 'Rendez-vous par jour ouvré', 'requires': ['meetings']},
        {'name': 'new_opportunities', 'label_en': 'New opportunities', 'label_fr': 'Nouvelles opportunités', 'requires': ['opportunities']},
        {'name': 'won_opportunities', 'label_en': 'Deals won', 'label_fr': 'Affaires gagnées', 'requires': ['opportunities']},
        {'name': 'lost_opportunities', 'label_en': 'Deals lost', 'label_fr': 'Affaires perdues', 'requires': ['opportunities']},
        {'name': 'won_amount', 'label_en': 'Amount won', 'label_fr': 'Montant gagné', 'requires': ['opportunities']},
        {'name': 'lost_amount', 'label_en': 'Amount lost', 'label_fr': 'Montant perdu', 'requires': ['opportunities']},
        {'name': 'won_cycle_days', 'label_en': 'Days to win (sum)', 'label_fr': 'Jours de cycle des affaires gagnées (somme)', 'requires': ['opportunities']},
        {'name': 'calls_to_meetings', 'label_en': 'Meetings per call', 'label_fr': 'Rendez-vous par appel', 'requires': ['calls', 'meetings']},
        {'name': 'meetings_to_opportunities', 'label_en': 'Opportunities per meeting', 'label_fr': 'Opportunités par rendez-vous', 'requires': ['meetings', 'opportunities']},
        {'name': 'proposals_to_won', 'label_en': 'Deals won per proposal', 'label_fr': 'Affaires gagnées par proposition', 'requires': ['proposals', 'opportunities']},
        {'name': 'quotes_to_won', 'label_en': 'Deals won per quote', 'label_fr': 'Affaires gagnées par devis', 'requires': ['quotes', 'opportunities']},
        {'name': 'win_rate', 'label_en': 'Win rate', 'label_fr': 'Taux de transformation', 'requires': ['opportunities']},
        {'name': 'win_rate_by_value', 'label_en': 'Win rate by value', 'label_fr': 'Taux de transformation en valeur', 'requires': ['opportunities']},
        {'name': 'average_deal_size', 'label_en': 'Average deal size', 'label_fr': 'Panier moyen des affaires gagnées', 'requires': ['opportunities']},
        {'name': 'sales_cycle_days', 'label_en': 'Sales cycle', 'label_fr': 'Cycle de vente', 'requires': ['opportunities']},
        {'name': 'open_opportunities', 'label_en': 'Open opportunities', 'label_fr': 'Opportunités ouvertes', 'requires': ['opportunities']},
        {'name': 'open_qualified_opportunities', 'label_en': 'Open qualified opportunities', 'label_fr': 'Opportunités qualifiées ouvertes', 'requires': ['opportunities']},
        {'name': 'open_pipeline', 'label_en': 'Open pipeline', 'label_fr': 'Pipeline ouvert', 'requires': ['opportunities']},
        {'name': 'weighted_pipeline', 'label_en': 'Weighted pipeline', 'label_fr': 'Pipeline pondéré', 'requires': ['opportunities']},
        {'name': 'open_in_period_pipeline', 'label_en': 'Open in-period pipeline', 'label_fr': 'Pipeline ouvert sur la période', 'requires': ['opportunities']},
        {'name': 'sales_velocity', 'label_en': 'Sales velocity', 'label_fr': 'Vélocité commerciale', 'requires': ['opportunities']},
        {'name': 'revenue_growth_same_point', 'label_en': 'Revenue vs previous period', 'label_fr': 'Chiffre d\'affaires vs période précédente', 'requires': ['invoices']},
        {'name': 'activities_growth_same_point', 'label_en': 'Activities vs previous period', 'label_fr': 'Activités vs période précédente', 'requires': ['activities']},
        {'name': 'won_amount_growth_same_point', 'label_en': 'Amount won vs previous period', 'label_fr': 'Montant gagné vs période précédente', 'requires': ['opportunities']},
        {'name': 'revenue_growth_last_year', 'label_en': 'Revenue vs last year', 'label_fr': 'Chiffre d\'affaires vs l\'an dernier', 'requires': ['invoices']},
        {'name': 'gross_margin_growth_last_year', 'label_en': 'Gross margin vs last year', 'label_fr': 'Marge brute vs l\'an dernier', 'requires': ['invoices', 'costs']},
        {'name': 'activities_growth_last_year', 'label_en': 'Activities vs last year', 'label_fr': 'Activités vs l\'an dernier', 'requires': ['activities']},
        {'name': 'won_amount_growth_last_year', 'label_en': 'Amount won vs last year', 'label_fr': 'Montant gagné vs l\'an dernier', 'requires': ['opportunities']},
        {'name': 'next_step_conversion', 'label_en': 'Next-step conversion', 'label_fr': 'Conversion vers l\'étape suivante', 'requires': ['stage_history']},
        {'name': 'cumulative_conversion', 'label_en': 'Cumulative conversion', 'label_fr': 'Conversion cumulée', 'requires': ['stage_history']},
        {'name': 'avg_days_in_stage', 'label_en': 'Days in stage', 'label_fr': 'Jours dans l\'étape', 'requires': ['stage_history']},
        {'name': 'revenue_target', 'label_en': 'Revenue target', 'label_fr': 'Objectif de chiffre d\'affaires', 'requires': ['targets']},
        {'name': 'attainment', 'label_en': 'Attainment', 'label_fr': 'Taux de réalisation', 'requires': ['targets']},
        {'name': 'prorated_target_to_date', 'label_en': 'Prorated target to date', 'label_fr': 'Objectif au prorata à date', 'requires': ['targets']},
        {'name': 'pace', 'label_en': 'Pace', 'label_fr': 'Rythme', 'requires': ['targets']},
        {'name': 'pipeline_coverage', 'label_en': 'Pipeline coverage', 'label_fr': 'Couverture du pipeline', 'requires': ['targets', 'opportunities', 'invoices']},
        {'name': 'objective_target', 'label_en': 'Objective', 'label_fr': 'Objectif', 'requires': ['targets']},
        {'name': 'run_rate_projection', 'label_en': 'Run-rate projection', 'label_fr': 'Projection au rythme actuel', 'requires': ['targets']},
        {'name': 'required_daily_rate', 'label_en': 'Required daily rate', 'label_fr': 'Rythme quotidien requis', 'requires': ['targets']},
        {'name': 'gap', 'label_en': 'Gap to objective', 'label_fr': 'Écart à l\'objectif', 'requires': ['targets']},
        {'name': 'gap_pct', 'label_en': 'Gap to objective %', 'label_fr': 'Écart à l\'objectif en %', 'requires': ['targets']},
        {'name': 'volume_effect', 'label_en': 'Volume effect', 'label_fr': 'Effet volume', 'requires': ['targets', 'opportunities', 'meeting_outcomes']},
        {'name': 'conversion_effect', 'label_en': 'Conversion effect', 'label_fr': 'Effet transformation', 'requires': ['targets', 'opportunities', 'meeting_outcomes']},
        {'name': 'deal_size_effect', 'label_en': 'Deal size effect', 'label_fr': 'Effet panier', 'requires': ['targets', 'opportunities', 'meeting_outcomes']},
        {'name': 'invoicing_timing_effect', 'label_en': 'Invoicing timing effect', 'label_fr': 'Effet décalage de facturation', 'requires': ['invoices', 'opportunities']},
        {'name': 'revenue_effect', 'label_en': 'Revenue effect on margin', 'label_fr': 'Effet chiffre d\'affaires sur la marge', 'requires': ['targets', 'invoices', 'costs']},
        {'name': 'margin_rate_effect', 'label_en': 'Margin rate effect', 'label_fr': 'Effet taux de marge', 'requires': ['targets', 'invoices', 'costs']}
    ]) }}
{%- endmacro %}

{#- The data requirements a KPI is computed from (dbt/kpis.yml `requires`). -#}
{% macro kpi_requires(name) -%}
    {%- for kpi in kpi_catalogue() if kpi.name == name -%}
        {{ return(kpi.requires) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "KPI '" ~ name ~ "' is not in dbt/kpis.yml"
    ) }}
{%- endmacro %}

{#- The data requirements: name, label, source system, reason stated when missing. -#}
{% macro data_requirements() -%}
    {{ return([
        {'name': 'activities', 'label': 'Activities (calls, emails, meetings, proposals, quotes, contracts)', 'system': 'crm', 'missing': 'no activity was delivered (CRM Task, Event, Proposal__c, Quote or Contract)'},
        {'name': 'calls', 'label': 'Calls', 'system': 'crm', 'missing': 'no call was delivered (CRM Task with TaskSubtype Call)'},
        {'name': 'call_outcomes', 'label': 'Call outcomes (completed)', 'system': 'crm', 'missing': 'no call carries its status (CRM Task Status is empty)'},
        {'name': 'emails', 'label': 'Emails', 'system': 'crm', 'missing': 'no e-mail was delivered (CRM Task with TaskSubtype Email)'},
        {'name': 'meetings', 'label': 'Meetings', 'system': 'crm', 'missing': 'no meeting was delivered (CRM Event with Type Meeting)'},
        {'name': 'meeting_outcomes', 'label': 'Meeting outcomes (held, no-show)', 'system': 'crm', 'missing': 'no meeting carries its outcome (CRM Event Meeting_Status__c is empty)'},
        {'name': 'proposals', 'label': 'Proposals sent', 'system': 'crm', 'missing': 'no sent proposal was delivered (CRM Proposal__c with Sent_Date__c)'},
        {'name': 'quotes', 'label': 'Quotes', 'system': 'crm', 'missing': 'no quote was delivered (CRM Quote)'},
        {'name': 'contracts', 'label': 'Signed contracts', 'system': 'crm', 'missing': 'no signed contract was delivered (CRM Contract with CustomerSignedDate)'},
        {'name': 'opportunities', 'label': 'Opportunities (stage, amount, creation and close dates)', 'system': 'crm', 'missing': 'no opportunity was delivered (CRM Opportunity)'},
        {'name': 'stage_history', 'label': 'Opportunity stage history', 'system': 'crm', 'missing': 'no stage history was delivered (CRM OpportunityHistory): the funnel needs every stage change; the pipeline is taken from the opportunities\' current state'},
        {'name': 'targets', 'label': 'Objectives (sales targets)', 'system': 'crm', 'missing': 'no objective was delivered (CRM Sales_Target__c)'},
        {'name': 'teams', 'label': 'Teams and regions (team and region levels)', 'system': 'crm', 'missing': 'no team was delivered (CRM UserRole with RollupDescription Team): every figure is under the team "Unassigned"'},
        {'name': 'user_emails', 'label': 'Sales people\'s e-mails (revenue per rep, row-level security)', 'system': 'crm', 'missing': 'no user e-mail was delivered (CRM User.Email): ERP revenue cannot be attributed to CRM users and reps cannot be given their own rows'},
        {'name': 'invoices', 'label': 'Invoices and credit notes (net revenue, quantity)', 'system': 'erp', 'missing': 'no posted invoice was delivered (ERP invoices and invoice_lines)'},
        {'name': 'costs', 'label': 'Costs of goods (gross margin)', 'system': 'erp', 'missing': 'the invoice lines carry no unit cost (ERP invoice_lines.unit_cost)'}
    ]) }}
{%- endmacro %}

{#- SQL that is true when the warehouse holds a data requirement's data. -#}
{% macro data_requirement_present(name) -%}
    {%- if name == 'activities' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }})
    {%- elif name == 'calls' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'call')
    {%- elif name == 'call_outcomes' -%}
        exists (
            select 1 from {{ ref('int_activities__unioned') }}
            where activity_type = 'call' and status is not null
        )
    {%- elif name == 'emails' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'email')
    {%- elif name == 'meetings' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'meeting')
    {%- elif name == 'meeting_outcomes' -%}
        exists (
            select 1 from {{ ref('int_activities__unioned') }}
            where activity_type = 'meeting' and status is not null
        )
    {%- elif name == 'proposals' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'proposal')
    {%- elif name == 'quotes' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'quote')
    {%- elif name == 'contracts' -%}
        exists (select 1 from {{ ref('int_activities__unioned') }} where activity_type = 'contract')
    {%- elif name == 'opportunities' -%}
        exists (select 1 from {{ ref('stg_crm__opportunities') }})
    {%- elif name == 'stage_history' -%}
        exists (select 1 from {{ ref('stg_crm__opportunity_history') }})
    {%- elif name == 'targets' -%}
        exists (select 1 from {{ ref('stg_crm__sales_targets') }} where not is_deleted)
    {%- elif name == 'teams' -%}
        exists (select 1 from {{ ref('stg_crm__user_roles') }} where role_level = 'Team')
    {%- elif name == 'user_emails' -%}
        exists (select 1 from {{ ref('stg_crm__users') }} where trim(email) != '')
    {%- elif name == 'invoices' -%}
        exists (select 1 from {{ ref('int_invoice_lines__signed') }} where invoice_state = 'posted')
    {%- elif name == 'costs' -%}
        exists (
            select 1 from {{ ref('stg_erp__invoice_lines') }} where unit_cost is not null
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "data requirement '" ~ name ~ "' is not in dbt/kpis.yml"
        ) }}
    {%- endif -%}
{%- endmacro %}
