"""Channel adapters: a platform update in, an Inbound to the router, Outbound replies back."""
