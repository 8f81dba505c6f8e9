"""What each channel can do, for the handlers (Services.channels): a new channel adds a line here."""
from __future__ import annotations

from handlers.types import ChannelTraits

CHANNELS = {
    "telegram": ChannelTraits(location_pins=True, staff_photos=True),  # the moderation chat is on Telegram too
    # its customer-service messages carry no Telegram photo (and reach a resident only 48 hours after
    # they wrote: bot/channels/wechat_sender.py holds what comes later)
    "wechat": ChannelTraits(location_pins=True),
    "console": ChannelTraits(),
}
