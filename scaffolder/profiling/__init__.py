"""The profiling agent's parts: the profile file, local samples on Spark, Unity Catalog tables.

`scaffolder.profile` is the engine of `scaffold profile` built from them.
"""
