"""eldercare simulator component."""
