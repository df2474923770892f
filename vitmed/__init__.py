"""vitmed: reproduce 'Pretrained ViTs Yield Versatile Representations For Medical Images'."""
__version__ = "0.1.0"
