"""Qianfa (签发): nothing is published on a college's official accounts before its sign-offs.

The packages, from the kernel up: ``core`` (errors, keys, store, settings, audit),
``registry``, ``screening``, ``drafts``, ``outbox``, ``wechat``, ``publishing``, ``notify``,
``channels``, and the entry points ``webhook``, ``web`` (``create_app``) and ``cli``.
"""
