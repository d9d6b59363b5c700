"""The only code that speaks to Outreach: OAuth, tokens, the REST client and the typed reads and writes."""
