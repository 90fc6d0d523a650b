"""The independent recomputations: what the marts must show, from the extract files alone.

Every expected value of the warehouse tests is computed here, in plain Python (csv, Decimal,
datetime) from the landing files and the holiday seed, following the documented rules, never from
the warehouse nor the dbt SQL. One module per concern:

- ``files``: reading the extracts (every delivered row, the current state of each record, every
  version of a record, the team of each User version);
- ``calendar``: periods of every grain, public holidays, working days;
- ``measures``: kpi_performance's month and quarter measures, the facts' totals and the data
  requirements of any company's data (tests/warehouse/test_any_company.py, the generator's unit
  tests); its docstring states the rules;
- ``performance``: kpi_performance and kpi_funnel of the demo at every grain, with ratios,
  previous periods, pipeline and funnel (tests/warehouse/test_kpi_performance.py);
- ``objectives``: kpi_objectives and the revenue and margin driver trees of the demo
  (tests/warehouse/test_objectives.py);
- ``rep_month``: kpi_rep_month of the demo, from the two above (tests/warehouse/test_kpi_mart.py).
"""
