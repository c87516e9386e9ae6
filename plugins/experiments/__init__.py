"""Built-in experiments, one per step of the lessons."""
