"""Everything that knows ALM's wire format: HTTP session, OAuth, rate limits, typed calls."""
