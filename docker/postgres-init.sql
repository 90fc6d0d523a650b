-- One server, one database per service's metadata.
create database superset;
create database dagster;
