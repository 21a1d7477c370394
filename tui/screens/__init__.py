"""The app's screens and dialogs, one module per screen."""
