-- dlt variant columns never reach the facts: a value that did not fit its declared column would
-- land in a column named <column>__v_<type> (e.g. amount__v_text) of a raw_* table, which staging
-- never selects. Returns every such column (ingestion/README.md, "Schema contracts").
select
    table_schema,
    table_name,
    column_name
from information_schema.columns
where
    left(table_schema, 4) = 'raw_'
    and strpos(column_name, '__v_') > 0
