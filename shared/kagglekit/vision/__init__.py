"""Images: file readers (numpy only), batched on-device augmentation and nets (torch).

``kagglekit.vision.readers`` never imports torch, so commands that only read and split the
data (``kk folds``) work without it; ``augment`` and ``nets`` import torch and are only
imported by the torch backends.
"""
