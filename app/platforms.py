"""Platforms (平台): placeholder until the domain core lands; ``exists`` is the contract."""

import redis

from app import keys


def exists(r: redis.Redis, platform_id: str) -> bool:
    return bool(r.sismember(keys.platforms(), platform_id))
