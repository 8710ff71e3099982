"""The names and labels of what the operator creates for a scenario. Pure."""

from __future__ import annotations

import hashlib
import re

MANAGED_BY = {"app.kubernetes.io/managed-by": "gameday"}
SCENARIO_LABEL = "gameday.io/scenario"


# --------------------------------------------------------------- child names and label values
# A scenario's name is a DNS-1123 subdomain: up to 253 characters, dots allowed. What the
# operator derives from it must fit tighter rules: a Job's or a container's name is a DNS-1123
# label (a Job's name is also its pods' `job-name` label value), a label value is at most 63
# characters of [A-Za-z0-9._-] with alphanumeric ends. A text that already fits is used as it is;
# one that does not is cleaned and cut, and carries a hash of the whole text so that two texts
# cut to the same prefix still differ.
NAME_MAX = 63
_HASH_LEN = 10
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_LABEL_BAD = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _fitted(
    text: str, keep: str, valid: re.Pattern[str], bad: re.Pattern[str], *, lower: bool
) -> str:
    whole = text + keep
    if len(whole) <= NAME_MAX and valid.fullmatch(whole):
        return whole
    digest = hashlib.sha256(whole.encode()).hexdigest()[:_HASH_LEN]
    keep = bad.sub("-", keep.lower() if lower else keep)[: NAME_MAX // 2]
    keep = re.sub(r"[^A-Za-z0-9]+$", "", keep)
    head = bad.sub("-", text.lower() if lower else text)
    head = re.sub(r"^[^A-Za-z0-9]+", "", head)[: NAME_MAX - len(keep) - len(digest) - 1]
    head = head.rstrip("-._")
    return f"{head}-{digest}{keep}" if head else f"{digest}{keep}"


def dns_label(text: str, keep: str = "") -> str:
    """`text + keep` as a DNS-1123 label (≤63, [a-z0-9-], alphanumeric ends): unchanged when it
    is one; else lower-cased, each run of other characters made `-`, `text` cut so that all
    fits, then `-<hash of text + keep>` and `keep` (kept, up to 31 characters: the part that
    tells siblings apart, e.g. `-f0-load`)."""
    return _fitted(text, keep, _DNS_LABEL, _DNS_LABEL_BAD, lower=True)


def label_value(text: str) -> str:
    """`text` as a label value (≤63, [A-Za-z0-9._-], alphanumeric ends, or empty): unchanged
    when it is one; else each run of other characters made `-`, cut, and `-<hash of text>`."""
    return _fitted(text, "", _LABEL_VALUE, _LABEL_VALUE_BAD, lower=False)


def scenario_labels(scenario: str) -> dict[str, str]:
    """The labels of everything the operator creates for a scenario."""
    return {**MANAGED_BY, SCENARIO_LABEL: label_value(scenario)}
