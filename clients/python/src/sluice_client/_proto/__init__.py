"""Generated protobuf code of the socket protocol (clients/python/regen-proto)."""
