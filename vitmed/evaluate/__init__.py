"""Scoring models: metrics, predictions, frozen features, k-NN, linear probe, OOD tests."""
