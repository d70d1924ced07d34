"""MConsoleAPI's implementation: Muster's dispatcher functions from a console, over REST.

`transport` holds the connection and turns REST answers and errors into
MUSTERERR returns; the area modules (jobs, nodes, system, accounts) translate
each function onto the REST route that reaches the same operation as the
dispatcher's own API service (hooks/service/).
"""
