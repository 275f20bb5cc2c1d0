"""The exceptions manifestkit raises.

Every expected failure is a :class:`ManifestKitError`; the CLI prints its message as ``error: ...`` and
exits 1. Unexpected exceptions (bugs) keep their traceback.

    ManifestKitError
     +-- SourceError          a dataset source (COCO file, folder, image) cannot be read as asked
     |    +-- ImageError      an image file is missing, unreadable or not an image
     +-- ManifestError        a manifest cannot be read or written
     +-- ValidationFailed     validation predicts that Rekognition would refuse the data
     +-- AwsError             an AWS call failed; carries the operation, error code and a hint
"""

from __future__ import annotations

__all__ = ["AwsError", "ImageError", "ManifestError", "ManifestKitError", "SourceError", "ValidationFailed"]


class ManifestKitError(Exception):
    """Root of every error manifestkit raises on purpose. ``str(err)`` is a sentence for the user."""


class SourceError(ManifestKitError):
    """A dataset source is malformed. ``path`` names the file; ``item`` the record inside it, if any."""

    def __init__(self, message: str, *, path: str | None = None, item: str | None = None) -> None:
        self.path = path
        self.item = item
        self.reason = message
        where = ""
        if path:
            where = f"{path}: "
        if item:
            where += f"{item}: "
        super().__init__(f"{where}{message}")


class ImageError(SourceError):
    """An image is missing, unreadable, truncated or in a format that is not an image."""


class ManifestError(ManifestKitError):
    """A manifest file cannot be read or written. ``line`` is 1-based when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = path or ""
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}" if where else message)


class ValidationFailed(ManifestKitError):
    """Validation says Rekognition would refuse the data (verdict ``would_fail``)."""


class AwsError(ManifestKitError):
    """An AWS request failed. ``operation`` and ``code`` come from botocore; ``hint`` says what to do."""

    def __init__(self, message: str, *, operation: str | None = None, code: str | None = None,
                 hint: str | None = None) -> None:
        self.operation = operation
        self.code = code
        self.hint = hint
        text = message
        if hint:
            text = f"{message} ({hint})"
        super().__init__(text)
