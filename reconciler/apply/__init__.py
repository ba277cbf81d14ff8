"""Apply a plan to the account: the writes, make before break, each one's outcome recorded.

The account is reached only through the `AccountWriter` protocol passed in, never through the
API client directly. Whether the account then matches is the next plan's to say (core.converge).
"""
