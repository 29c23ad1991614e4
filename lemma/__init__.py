"""lemma: learning from errors for mathematical advancement."""
