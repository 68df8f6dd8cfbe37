"""Formats: the canonical Example, one adapter per user format, and FormatProfile inference."""

from safemix.formats.example import Example
from safemix.formats.io import (
    Job,
    JobReader,
    detect_container,
    read_examples,
    read_job,
    write_examples,
)

__all__ = ["Example", "Job", "JobReader", "detect_container", "read_examples", "read_job", "write_examples"]
