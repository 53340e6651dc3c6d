"""jepakit-ecg: ECG-JEPA on WFDB records and PTB-XL (see README.md)."""

__version__ = "0.1.0"
