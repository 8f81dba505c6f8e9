"""What each channel can do, for the handlers (Services.channels): a new channel adds a line here."""
from __future__ import annotations

from datetime import timedelta

from handlers.types import ChannelTraits

CHANNELS = {
    "telegram": ChannelTraits(location_pins=True, staff_photos=True),  # the moderation chat is on Telegram too
    # its customer-service messages carry no Telegram photo, and may be sent for 48 hours after the resident wrote
    "wechat": ChannelTraits(location_pins=True, reply_window=timedelta(hours=48)),
    "console": ChannelTraits(),
}
