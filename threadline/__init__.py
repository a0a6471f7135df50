"""The ``threadline`` command line and the local deployment it drives."""
