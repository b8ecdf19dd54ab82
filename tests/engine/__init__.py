"""Engine: the compiler and the kernel on small textbook models (closed forms, the numpy reference, threads,
bad models)."""
