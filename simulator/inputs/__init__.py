"""Stage 1, inputs: scenario files (YAML, checked against the model, with their policy paths and uncertain
inputs) -> a Scenario, whose ``inputs(model, runs)`` fills the engine's arrays."""
