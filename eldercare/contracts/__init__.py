"""The MQTT contract (version 1): topics, payload models and the codec. One place, used by everyone."""

from eldercare.contracts.codec import Decoded, Rejection, RejectReason, decode, encode
from eldercare.contracts.topics import MessageKind, Topic

__all__ = ["Decoded", "MessageKind", "RejectReason", "Rejection", "Topic", "decode", "encode"]
