"""Pure transformations, one module per table of tables.yml: DataFrames in, DataFrame out."""
