"""arq workers: decide what each event becomes in Outreach and make it so, just in time."""
