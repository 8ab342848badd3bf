"""One module per command group; ``challenge.cli`` wires them together."""
