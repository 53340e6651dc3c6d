"""jepakit-vision: I-JEPA, DSeq-JEPA and seq-JEPA on images, as a jepakit plugin."""

__version__ = "0.1.0"
