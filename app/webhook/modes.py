"""WeChat's three message modes: as each platform is configured, and as a callback arrives.

Only in compatible and safe mode is the message itself authenticated: ``msg_signature``
covers the ``<Encrypt>`` text, and the AES envelope names the AppID. The ``signature``
every mode carries covers only Token, timestamp and nonce, so in plaintext mode anyone
holding one signed query (WeChat's GET server check, say) can attach any body to it.
Hence a callback must arrive in the mode its platform is set to (else it is refused as
``mode_mismatch``), and commands that change anything need an authenticated body.

How a callback's mode is read (the query decides encryption, the outer XML the rest):

========================  ==========================  ===========
``encrypt_type``          outer ``<xml>``             mode
========================  ==========================  ===========
absent, empty or ``raw``  no ``<Encrypt>``            plaintext
absent, empty or ``raw``  has ``<Encrypt>``           refused: the encryption was stripped
``aes``                   has ``<MsgType>``           compatible (the plain copy is ignored)
``aes``                   no ``<MsgType>``            safe
anything else             --                          refused as ``bad_mode``
========================  ==========================  ===========
"""

from app.core.errors import InvalidInput
from app.webhook.calls import refused

PLAINTEXT, COMPATIBLE, SAFE = "plaintext", "compatible", "safe"
MODES = {PLAINTEXT: "明文模式", COMPATIBLE: "兼容模式", SAFE: "安全模式"}
DEFAULT = SAFE
AUTHENTICATED = frozenset({COMPATIBLE, SAFE})
NOT_ENCRYPTED = ("", "raw")


def parse(raw) -> str:
    """A configured mode, by its English value or its Chinese name."""
    value = str(raw or "").strip()
    for mode, name in MODES.items():
        if value.lower() == mode or value == name:
            return mode
    raise InvalidInput("消息模式应为 " + "、".join(f"{m}({n})" for m, n in MODES.items()))


def detect(args: dict, outer: dict) -> str:
    """The mode a callback arrived in, from its query and its outer (still encrypted) XML."""
    encrypt_type = args.get("encrypt_type") or ""
    if encrypt_type in NOT_ENCRYPTED:
        if "Encrypt" in outer:
            raise mismatch("回调带有 <Encrypt> 却没有 encrypt_type=aes:加密被剥离")
        return PLAINTEXT
    if encrypt_type != "aes":
        raise refused(f"不支持的加密方式 {encrypt_type[:10]!r}", "bad_mode")
    return COMPATIBLE if "MsgType" in outer else SAFE


def mismatch(message: str):
    """A callback in another mode than its platform's: counted as forged, like a bad signature."""
    return refused(message, "mode_mismatch", 403, forged=True)


def mismatch_between(arrived: str, configured: str):
    return mismatch(f"回调为{MODES[arrived]},平台设置为{MODES.get(configured, configured)}")
