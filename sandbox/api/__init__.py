"""The ``/cgi-bin/`` side of the sandbox: WeChat's API paths, parameters and answers.

One module per API area, as in wechatpy: ``token``, ``message``, ``media``, ``draft``,
``freepublish``. ``base`` holds what every endpoint does first (faults, token, quota).
"""
