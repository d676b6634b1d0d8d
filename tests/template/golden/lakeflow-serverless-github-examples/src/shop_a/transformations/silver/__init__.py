"""The silver layer's transformations."""
