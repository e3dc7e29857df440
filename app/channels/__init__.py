"""What each channel needs of its own: chat commands, console accounts and dashboard, API tokens."""
