"""Text in pictures: every picture of a draft version read with OCR, in the pictures worker."""
