"""The controller that speaks HTTP to the master (here: Corral's dispatcher)."""
