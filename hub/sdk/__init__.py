"""The connector SDK: what an integrator imports to plug an agency app into the hub."""

from hub.errors import BadInput, PermanentDeliveryError, RetryableDeliveryError
from hub.sdk.base import (
    Capability,
    Connector,
    ConnectorConfig,
    Delivered,
    PullPage,
    RawMessage,
)
from hub.sdk.http import RetryPolicy, deliver_with_retries, post_delivery, raise_for_status
from hub.sdk.inputs import charset_of, check_size, decode_text, parse_json, parse_xml, require
from hub.sdk.registry import available, get_connector
from hub.sdk.reports import extra_fields, hub_id, new_report, new_status, parse_time

__all__ = [
    "BadInput",
    "Capability",
    "Connector",
    "ConnectorConfig",
    "Delivered",
    "PermanentDeliveryError",
    "PullPage",
    "RawMessage",
    "RetryPolicy",
    "RetryableDeliveryError",
    "available",
    "charset_of",
    "check_size",
    "decode_text",
    "deliver_with_retries",
    "extra_fields",
    "get_connector",
    "hub_id",
    "new_report",
    "new_status",
    "parse_json",
    "parse_time",
    "parse_xml",
    "post_delivery",
    "raise_for_status",
    "require",
]
