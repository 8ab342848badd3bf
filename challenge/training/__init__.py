"""Training a learner's model in the sandbox: the run, its progress bar and plot, the checkpoints."""
