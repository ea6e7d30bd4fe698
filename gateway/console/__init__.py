"""The web console (``/console``): playground, inbox for human agents, conversations, knowledge.

``pages`` serves the page and its assets; ``api`` the operator endpoints it reads under
``/api/console`` (the inbox, live streams of the inbox and of a conversation, as server-sent
events, fed by ``live`` and ``inbox``); ``playground`` lets an operator text or call the
agent through the very signed webhooks Twilio would use. Every action the console takes on
a conversation goes through the operator API's workflow signals, so the Temporal UI, the API
and every open console agree.
"""
