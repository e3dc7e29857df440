"""Qianfa's WeChat API client: calls, access tokens, errcodes and the quota pause."""
