"""Declarations of the landing-file source: how it reads values and reports bad ones."""

# CSV text read as booleans (pyarrow's convert options; anything else is a bad value)
TRUE_VALUES = ["true", "True", "TRUE"]
FALSE_VALUES = ["false", "False", "FALSE"]

# Where error messages send the reader to fix a format mismatch
CONFIG_HINT = "the landing configuration (ingestion/landing.yaml)"

# Characters of a whole bad row kept in the quarantine table
MAX_SHOWN = 500

# Dates a sales record can carry: anything outside is a typo or a placeholder (0001-01-01,
# 9999-12-31), never a sale. Suspicious dates inside the window (decades ahead) only warn
# (the delivery validation, pilotage/quality.py).
PLAUSIBLE_YEARS = (1900, 2199)
