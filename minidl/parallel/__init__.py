"""Data-parallel training on Ray (the optional extra ``parallel``): ``parpool``, ``gcp`` and
the engine behind ``trainingOptions(ExecutionEnvironment="parallel")``. See docs/parallel.md."""
