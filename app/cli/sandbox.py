"""Command that starts the sandbox WeChat server (issue 3)."""


def register(cli):
    pass
