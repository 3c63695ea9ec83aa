"""Production settings plus the bench's yardstick route (bench/bench_redirect.py only; never shipped)."""

from config.settings.prod import *  # noqa: F403

ROOT_URLCONF = "bench.redirect_urls"
