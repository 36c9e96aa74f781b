"""θ, the data generation process: its text form, the causal search that starts it, graph helpers and distances."""
