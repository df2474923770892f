"""Model architectures and their weights: timm factory, self-attention layers, freezing."""
