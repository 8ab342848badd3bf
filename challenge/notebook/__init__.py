"""The challenge from a notebook: ``%load_ext challenge`` (``magics``), the cell rules
(``cells``), and rendering for the notebook (``html``, ``progress``).

Only ``magics`` and ``progress`` import IPython, and only when a notebook uses them:
a plain ``pip install -e .`` has no IPython, and ``import challenge`` stays cheap.
"""
