"""Voice over Twilio ConversationRelay: wire frames and TwiML (the relay route comes next)."""
