"""Channel-neutral handlers: an `Inbound` goes in, a `Reply` comes out."""
