"""eldercare api component."""
