"""The [bus] config section, declared beside the backends it chooses between."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from server.core.section import Section, check

SCHEMES = ("memory", "redis", "rediss", "postgresql", "postgres")
CHANNEL = re.compile(r"[a-z0-9_]{1,48}")


class BusConfig(Section):
    url: Annotated[str, check(lambda url: urlsplit(url).scheme in SCHEMES,
                              "must start with memory://, redis://, rediss://, postgresql:// "
                              "or postgres://")] = "memory://"
    # Names the Redis channel and the NOTIFY channel: deployments (and test runs) sharing
    # one broker stay apart. Lowercase, so that it is the same name in both.
    channel: Annotated[str, check(lambda name: CHANNEL.fullmatch(name) is not None,
                                  "must be 1 to 48 characters of a-z, 0-9 and _")] = "barrage"
