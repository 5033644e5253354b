"""The Slack surface: a Bolt app answering @mentions, DMs and thread follow-ups with cited answers.

Modules, one concept each:

- ``app``: builds the Bolt app (listeners, event de-duplication);
- ``webapi``: the Web API client (429s retried after Retry-After) and its error tuple;
- ``conversation``: answering mentions, direct messages and thread follow-ups;
- ``audience``: which audience a channel gets (customer-facing and Slack Connect channels: customer);
- ``render``: Block Kit messages, with every piece of document text escaped;
- ``commands``: the admin slash command (``ask``, ``resync``, ``status``, ``sources``);
- ``actions``: feedback buttons and "share in channel";
- ``logfilter``: keeps tokens and message bodies out of the Slack libraries' logs;
- ``transport``: how Slack reaches the app (the ``/slack/events`` route, or Socket Mode), handed to
  the process that hosts it (:mod:`bot.serve`).

Errors meeting Slack users are answered in Slack; configuration errors raise
:class:`bot.errors.ConfigError` before anything connects.
"""
