"""Representation analyses: CKA, attention distance, saliency, the per-dataset job."""
