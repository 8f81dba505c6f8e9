"""What each channel can do, for the handlers (Services.channels): a new channel adds a line here."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from handlers.types import ChannelTraits

CHANNELS = {
    "telegram": ChannelTraits(location_pins=True, staff_photos=True),  # the moderation chat is on Telegram too
    # its customer-service messages carry no Telegram photo, and may be sent for 48 hours after the resident wrote
    "wechat": ChannelTraits(location_pins=True, reply_window=timedelta(hours=48)),
    "console": ChannelTraits(),
}


def channels_for(settings) -> dict[str, ChannelTraits]:
    """The table for these settings: with a WeChat template message configured the bot reaches a
    WeChat resident at any time (a template outside the 48 hours), so notices are queued for all."""
    if not settings.wechat_template_id:
        return CHANNELS
    return {**CHANNELS, "wechat": replace(CHANNELS["wechat"], reply_window=None)}
