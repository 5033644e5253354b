"""helpdesk-bot: grounded, cited answers for support teams."""

__version__ = "0.1.0"
