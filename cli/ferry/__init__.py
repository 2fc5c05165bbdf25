"""``ferry``: the program that serves Ferry's functions and writes its manifests.

``main`` builds the command line from the commands here and from those other packages register
under the ``ferry.commands`` entry point group (the local runtime's ``up``, ``sim``, ``demo``).
"""
