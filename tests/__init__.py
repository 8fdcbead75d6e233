"""eldercare tests component."""
