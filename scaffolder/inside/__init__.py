"""What runs inside the sandbox: the validation round's pytest plugin, its detector and mutants.

These modules import only the standard library, pytest, pydantic, pyspark and the `lakeforge`
runtime (never openai, copier or the fill engine): they run next to untrusted code, in a
process that sees no credentials, and must start fast.
"""
