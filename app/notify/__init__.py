"""Notifications: delivery, who hears what about a draft, reminders, escalation, 48 hours."""
