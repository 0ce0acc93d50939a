"""What every wing uses: the root error, atomic file writes, progress bars.

Imports nothing else of ``fcn4``; every other wing may import it.
"""
