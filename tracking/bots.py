"""Is a click a person's, or a bot's or a link preview's? (pure: no database)

Two sources: crawlerdetect (a maintained list of crawler user agents, with its own exclusions for
browsers that merely look like bots), and the link-preview fetchers of messengers and social apps
named below. A preview is fetched by the app as soon as a message holding the link is shown or
pasted, before anyone taps it, so counting it as a person's click would report clicks nobody made.

Each name of `PREVIEW_FETCHERS` is matched case-insensitively as a substring of the user agent. They
are chosen so that an app's in-app browser (a person reading the page) is not matched: Facebook's
in-app browser says `FBAN/FBIOS`, not `facebookexternalhit`; Twitter's `Twitter for iPhone`, not
`Twitterbot`; WhatsApp opens links in the system browser, so `WhatsApp/` is only ever its preview.

A request without a user agent is counted as a bot: every browser sends one.
"""

from __future__ import annotations

import re
from functools import lru_cache

from crawlerdetect import CrawlerDetect

PREVIEW_FETCHERS = (
    "WhatsApp/",  # WhatsApp/2.23.20.0 A
    "TelegramBot",  # TelegramBot (like TwitterBot)
    "Slackbot",  # Slackbot-LinkExpanding 1.0, Slackbot 1.0
    "Slack-ImgProxy",
    "facebookexternalhit",  # Facebook and Messenger (and Instagram's previews)
    "Facebot",
    "Twitterbot",  # Twitter/X (iMessage's previews say it too)
    "Applebot",
    "Discordbot",
    "LinkedInBot",
    "SkypeUriPreview",  # Skype and Microsoft Teams
    "Google-PageRenderer",
    "Snap URL Preview",
    "Pinterestbot",
    "redditbot",
    "vkShare",
    "Embedly",
)
_PREVIEW = re.compile("|".join(re.escape(name) for name in PREVIEW_FETCHERS), re.IGNORECASE)
_DETECTOR = CrawlerDetect()  # its answer depends on the argument only: safe across threads


@lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    """True for a bot or a link preview; cached per user agent (a few agents make most clicks)."""
    agent = user_agent.strip()
    if not agent:
        return True
    return bool(_PREVIEW.search(agent)) or _DETECTOR.is_crawler(agent)
