"""Rules for user tags, the same for every metadata provider."""

from ..exceptions import TaggingException

MAX_TAG_SIZE = 500


def validate_tags(tags):
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise TaggingException("Tags must be non-empty strings, got *%r*." % (tag,))
        if len(tag.encode("utf-8")) > MAX_TAG_SIZE:
            raise TaggingException(
                "Tag *%s...* is longer than %d bytes." % (tag[:30], MAX_TAG_SIZE)
            )
