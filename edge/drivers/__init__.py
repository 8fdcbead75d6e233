"""Sensor drivers: each feeds an :class:`edge.model.Sink` and stops when told to."""
