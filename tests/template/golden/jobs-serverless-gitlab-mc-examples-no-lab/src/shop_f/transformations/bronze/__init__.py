"""The bronze layer's transformations."""
