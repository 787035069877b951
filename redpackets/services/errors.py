"""The red-packet app's errors; the message is for people."""


class CampaignError(Exception):
    """Bad input or a state that forbids the action; the message is for people."""


class CampaignNotFound(CampaignError):
    pass
