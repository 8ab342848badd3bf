"""The transformer-from-scratch calibration challenge: the learner's command line."""

__version__ = "0.1.0"
