"""`harness fuzz`: differential fuzzing campaigns (space: what is drawn; evaluate: a draw as `harness
run` runs it; features and shrink: the minimal configuration and its signature; engine: local worker
processes or Ray; store: the findings folder; campaign: the loop; page: the findings page).

This module stays light (the command line reads its names on every start): Hypothesis and Ray are
imported by the modules that use them."""

OPS = ("conv", "conv_transpose", "stack")  # stack: a few layers end to end (harness.stack)
ENGINES = ("local", "ray")


class FuzzError(Exception):
    """A campaign that cannot start (an unknown option value, a folder that cannot be written)."""
