"""lapor-hub: the federated integration hub of SP4N-LAPOR!."""

from hub.errors import HubError

__version__ = "0.1.0"
__all__ = ["HubError", "__version__"]
