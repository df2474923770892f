"""Input statistics the pretrained weights expect (timm's IMAGENET_DEFAULT_MEAN / _STD)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
