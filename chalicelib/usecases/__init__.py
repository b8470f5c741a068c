"""The use cases, one module each; :mod:`chalicelib.usecases.reactions` chains them per event.

Each use case does one step and returns what should happen next, instead of calling the
next use case itself, so everything one event causes reads top-down in one reaction.
"""
