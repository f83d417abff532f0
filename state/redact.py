"""Masks secret values in text and log records; secret stores register every value they hand out here.

Call `install_log_redaction()` once at start-up (function app, local host, CLI) so that every log record,
whichever handler later ships it, has its message, arguments and traceback masked.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any
from urllib.parse import quote

MASK = "***"

# Attributes every LogRecord has; anything else on a record came from `extra=` and is masked too.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Redactor:
    """Remembers secret values and replaces them with `***` wherever they occur in a string.

    Values shorter than `min_length` are ignored: masking a two-character "secret" everywhere would make
    logs unreadable while protecting nothing.
    """

    def __init__(self, *, min_length: int = 4, mask: str = MASK) -> None:
        self._min_length = min_length
        self.mask = mask
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"

    def __len__(self) -> int:
        return len(self._values)

    def register(self, value: str) -> None:
        """Mask `value` from now on, and the encodings it travels in (form bodies, basic auth)."""
        if not value or len(value) < self._min_length:
            return
        variants = {
            value,
            quote(value, safe=""),
            base64.b64encode(value.encode()).decode(),
            # Azure DevOps PATs go over basic auth with an empty user name.
            base64.b64encode(f":{value}".encode()).decode(),
        }
        with self._lock:
            if variants <= self._values:
                return
            self._values |= variants
            # Longest first, so a value containing another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(self.mask, text)

    def redact_record(self, record: logging.LogRecord) -> None:
        """Mask a log record in place: message with its arguments, traceback, stack and string extras."""
        if self._pattern is None:
            return
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format: keep both visible for debugging, masked.
            message = f"{record.msg} {record.args!r}"
        masked = self.redact(message)
        if masked != message:
            # Only rewritten when needed: an untouched record keeps its template for log analytics.
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redact(value))


default_redactor = Redactor()


def register(value: str) -> None:
    default_redactor.register(value)


def redact(text: str) -> str:
    return default_redactor.redact(text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets; attach it to a handler to cover everything it emits."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or default_redactor

    def filter(self, record: logging.LogRecord) -> bool:
        self.redactor.redact_record(record)
        return True


_install_lock = threading.Lock()


def install_log_redaction(redactor: Redactor | None = None) -> None:
    """Mask every log record as it is created, whichever handler later emits it. Safe to call repeatedly.

    Works at record creation because handlers added later (the Functions worker's, Azure Monitor's)
    would not carry a filter. Fields passed through `extra=` are set after creation; a `RedactingFilter`
    on the handler also covers those.
    """
    target = redactor or default_redactor
    with _install_lock:
        previous = logging.getLogRecordFactory()
        if getattr(previous, "_tandem_redactor", None) is target:
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            target.redact_record(record)
            return record

        factory._tandem_redactor = target  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
