"""Training stages: fine-tuning, DINO, source pretraining, on one resumable epoch loop."""
