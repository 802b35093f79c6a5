"""ACP Registry: an OCI image registry that belongs to a platform."""

__version__ = "0.1.0"
