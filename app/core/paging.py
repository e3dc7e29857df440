"""Paging for WeChat messages, whose limits are in UTF-8 bytes, not characters."""


def paginate(text: str, max_bytes: int) -> list[str]:
    """Split text into pieces of at most ``max_bytes`` UTF-8 bytes, preferring line ends."""
    pages, current = [], ""
    for char in text:
        if len((current + char).encode()) > max_bytes:
            cut = current.rfind("\n")
            cut = cut + 1 if cut > len(current) // 2 else len(current)
            pages.append(current[:cut])
            current = current[cut:]
        current += char
    return pages + [current] if current or not pages else pages
