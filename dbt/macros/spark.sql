{#-
    Apache Spark (dbt-spark; docs/adapters.md). The raw tables on a local Spark: each source
    table of the project registered as an external parquet table over
    <folder>/<schema>/<table>/ (files a loader wrote, e.g. DuckDB's COPY of the raw schemas):
        dbt run-operation spark_register_raw_tables --args '{folder: /abs/raw}' --target spark
    On Databricks the raw tables come from the loader itself (dlt's databricks destination).
-#}
{% macro spark_register_raw_tables(folder) -%}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error(
            "spark_register_raw_tables registers parquet files as Spark tables: run it with "
            ~ "--target spark (this target is " ~ target.type ~ ")"
        ) }}
    {%- endif -%}
    {%- set tables = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set location = folder.rstrip('/') ~ '/' ~ source.schema ~ '/' ~ source.identifier -%}
        {%- do run_query('create schema if not exists ' ~ source.schema) -%}
        {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.identifier) -%}
        {%- do run_query(
            'create table ' ~ source.schema ~ '.' ~ source.identifier
            ~ " using parquet location '" ~ location ~ "'"
        ) -%}
        {%- do tables.append(source.schema ~ '.' ~ source.identifier) -%}
    {%- endfor -%}
    {{ log('registered ' ~ tables | length ~ ' raw tables from ' ~ folder ~ ': '
        ~ tables | join(', '), info=true) }}
{%- endmacro %}

{#-
    The portable type names of the contracts and seeds (double precision, varchar, timestamp
    with time zone) in Spark SQL, which knows DOUBLE, STRING and TIMESTAMP. dbt casts the
    contract types with cast() to check a model's columns (and unit test fixtures' values).
-#}
{% macro spark_type(type) -%}
    {%- set spark_types = {
        'double precision': 'double',
        'varchar': 'string',
        'text': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp'
    } -%}
    {{ return(spark_types.get(type | trim | lower, type)) }}
{%- endmacro %}

{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ spark_type(type) }})
{%- endmacro %}

{#-
    listagg with its order (dbt-spark's ignores order_by_clause): the values collected with their
    sort key, sorted, then joined. order_by_clause: 'order by <one expression>', ascending.
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg on Spark: limit_num is not implemented") }}
    {%- endif -%}
    {%- if order_by_clause -%}
        {%- set match = modules.re.match('^\\s*order\\s+by\\s+([^,]+?)(\\s+asc)?\\s*$', order_by_clause, modules.re.I) -%}
        {%- if not match -%}
            {{ exceptions.raise_compiler_error(
                "listagg on Spark takes 'order by <one expression>' (ascending), got '"
                ~ order_by_clause ~ "'"
            ) }}
        {%- endif -%}
        array_join(
            transform(
                array_sort(collect_list(named_struct('k', {{ match.group(1) }}, 'v', {{ measure }}))),
                e -> e.v
            ),
            {{ delimiter_text }}
        )
    {%- else -%}
        array_join(collect_list({{ measure }}), {{ delimiter_text }})
    {%- endif -%}
{%- endmacro %}

{#-
    Seeds on Spark: dbt-spark's session method pastes each value between quotes unescaped
    ('Jour de l'an' breaks the insert) and a missing value as the text 'None'. Here every value
    is a literal: null, true/false, or quoted with Spark's backslash escapes, cast to its type.
-#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set value = row[loop.index0] -%}
                    {%- set type = spark_type(column_override.get(
                        col_name, adapter.convert_type(agate_table, loop.index0)
                    )) -%}
                    {%- if value is none -%}
                        {%- set literal = 'null' -%}
                    {%- elif value is sameas true or value is sameas false -%}
                        {%- set literal = value | string | lower -%}
                    {%- else -%}
                        {%- set literal = "'" ~ (value | string | replace('\\', '\\\\')
                            | replace("'", "\\'")) ~ "'" -%}
                    {%- endif -%}
                    cast({{ literal }} as {{ type }}){{ ',' if not loop.last }}
                {%- endfor -%}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{#- dbt-spark's seed table, with the seeds' column types in Spark SQL (spark_type). -#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {%- set sql -%}
        create table {{ this.render() }} (
            {%- for col_name in agate_table.column_names -%}
                {%- set type = spark_type(column_override.get(
                    col_name, adapter.convert_type(agate_table, loop.index0)
                )) %}
            {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }}
                {{- ',' if not loop.last }}
            {%- endfor %}
        )
        {{ file_format_clause() }}
        {{ partition_cols(label="partitioned by") }}
        {{ clustered_cols(label="clustered by") }}
        {{ location_clause() }}
        {{ comment_clause() }}
    {%- endset -%}
    {%- call statement('_') -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(sql) }}
{%- endmacro %}
