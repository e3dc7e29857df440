"""Drafts and their review: versions, sign-offs, re-screening, composing, uploads, previews."""
