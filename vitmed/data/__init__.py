"""Data stages: raw layouts -> standardized store -> splits -> torch datasets."""
