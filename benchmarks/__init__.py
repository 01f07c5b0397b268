"""Benchmarks of sparsekeras: `python -m benchmarks.run --help`.

Nothing here is part of the library, and the tests never import it: the one
smoke test runs the command in a subprocess.
"""
