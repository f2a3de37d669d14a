"""`srd experiment`: variants × seeds of `srd run`, aggregated with confidence intervals."""
