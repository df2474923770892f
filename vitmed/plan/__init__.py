"""Planning a study: job counts and GPU-hour estimates (python -m vitmed.plan)."""
