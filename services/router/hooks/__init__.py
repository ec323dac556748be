"""Hooks: an app's HookService, consulted per pool on texts out of session and in session.

A hook is never called inside a transaction. The pipeline sets a message that needs one aside
(stage.py) without a trace in its batch; the pipeline's ``receive`` then gets the decision
(decider.py: the recorded one, else the app's answer through client.py, recorded first) and
puts the message through again with it attached, where stage.py applies it.
"""
