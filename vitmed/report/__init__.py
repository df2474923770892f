"""Results: tidy run table -> paper tables and figures."""
