"""The gold layer's transformations."""
