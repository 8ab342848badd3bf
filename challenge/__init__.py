"""The transformer-from-scratch calibration challenge: the learner's command line."""

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """``%load_ext challenge``: the CLI's commands as magics (needs ``pip install -e '.[notebook]'``)."""
    from challenge.notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from challenge.notebook.magics import unload

    unload(ipython)
