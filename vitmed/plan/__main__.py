"""python -m vitmed.plan: jobs per stage and estimated GPU-hours of a study."""
from vitmed.plan.estimate import main

main()
