"""Scripts that Spark runs as its Python primary resource (alone in this folder, so the folder Python
puts first on `sys.path` for a script shadows no module)."""
