"""Knowledge health: why the bot stayed silent, and where the help center and the team's replies disagree.

==============  ===========================================================================
``origin``      where a question was asked (a Slack thread, a ticket), filed with it in the
                questions log (:func:`~bot.health.origin.asked_in`)
``gaps``        the knowledge-gap view: unanswered and "not helpful" questions grouped by topic
                and by the reason recorded with each, with the closest source and links
``facts``       checkable facts of support text: quantities with units, menu paths, plan names
``corpus``      the public articles and the tickets' public replies, read through the retriever
``finder``      the contradiction and staleness finder (:class:`~bot.health.finder.HealthFinder`)
``report``      what it reports (:class:`~bot.health.report.HealthReport`) and its plain-text form
``runs``        one finder run at a time in a process, each report stored (admin page, digest)
``reasons``     whether a recorded abstention reason is right (a counterfactual check)
==============  ===========================================================================

It sits above answering and the state (it reads the index through the retriever and the state
through its repositories) and below the runtime and the surfaces, which show what it finds: the
admin page, ``/helpdesk gaps``, ``helpdesk-bot gaps`` and ``health``, the weekly Slack digest.
"""
