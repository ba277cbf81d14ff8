"""Apply a plan: its writes, make before break, each reached through `AccountWriter` and its
outcome recorded. Whether the account then matches is the next plan's to say (core.converge)."""
