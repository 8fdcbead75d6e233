"""eldercare: the shared kernel (contracts, configuration, database, MQTT) of the platform."""

__version__ = "0.1.0"
