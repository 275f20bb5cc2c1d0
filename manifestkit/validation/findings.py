"""Findings: every code the validator can report, its severity, where Rekognition attaches it, and its text.

Codes with the ``ERROR_``/``WARNING_`` prefix are Rekognition's own, with Rekognition's own messages
(``rekognition_message``), used in the ``rekognition`` output. ``MK_`` codes are manifestkit's checks that
Rekognition does not document (decisions.md). Severity: ``error`` = Rekognition drops the line or the
annotation, or training fails; ``warning`` = Rekognition ignores the line, or the data is very likely
wrong; ``info`` = worth knowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CODES", "Code", "Finding", "TERMINAL", "rekognition_message"]

# Scopes: where Rekognition puts an error in a ``*_manifest_with_validation.json`` line.
LINE, ATTRIBUTE, METADATA, ANNOTATION, MANIFEST = "line", "attribute", "metadata", "annotation", "manifest"


@dataclass(frozen=True, slots=True)
class Code:
    """One finding code: severity, scope, whether it fails training, Rekognition's message, when it fires."""

    code: str
    severity: str
    scope: str
    terminal: bool
    rekognition_message: str | None
    trigger: str
    fix: str


def _c(code: str, severity: str, scope: str, rek: str | None, trigger: str, fix: str,
       terminal: bool = False) -> Code:
    return Code(code, severity, scope, terminal, rek, trigger, fix)


_TABLE = [
    # --- per line, Rekognition's codes (tm-debugging-json-line-errors.md) ------------------------------
    _c("ERROR_INVALID_JSON_LINE", "error", LINE, "The JSON Line has an invalid format.",
       "the line is not one JSON object: a syntax error, not UTF-8, a blank line, NaN/Infinity, a number out "
       "of range, nesting too deep, or a JSON value that is not an object",
       "make the line one complete JSON object, or delete it"),
    _c("ERROR_MISSING_SOURCE_REF", "error", LINE, "The source-ref key is missing.",
       "the line has no source-ref key (or it is misspelt)", "add \"source-ref\": \"s3://BUCKET/KEY\""),
    _c("ERROR_INVALID_SOURCE_REF_FORMAT", "error", LINE, "The format of the source-ref value is invalid.",
       "source-ref is not a string of the form s3://BUCKET/KEY (relative paths, https:// URLs, S3:// or an "
       "empty key)", "write the image's full S3 URI, s3://BUCKET/KEY"),
    _c("ERROR_NO_LABEL_ATTRIBUTES", "error", LINE, "No label attributes found.",
       "the line has keys besides source-ref but no pair ATTR / ATTR-metadata",
       "give every label attribute its ATTR-metadata object with exactly that name"),
    _c("ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT", "error", ATTRIBUTE, "The format of the label attribute {} is invalid.",
       "the attribute value has the wrong shape: not an integer (image labels), or not an object with "
       "image_size [{width,height,depth}] and annotations [{class_id,left,top,width,height}] (boxes)",
       "fix the value to the schema in schemas/; 'manifestkit convert' writes it correctly"),
    _c("ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT", "error", METADATA,
       "The format of the label attribute metadata is invalid.",
       "ATTR-metadata is not an object, or lacks a required key (class-name, confidence, type, "
       "human-annotated, creation-date; objects and class-map for boxes), or a value has the wrong type",
       "add the missing keys with the documented types"),
    _c("ERROR_UNSUPPORTED_USE_CASE_TYPE", "error", METADATA,
       "The use case type of the {} label attribute metadata is unsupported. Check the type field.",
       "the metadata type is not groundtruth/image-classification or groundtruth/object-detection (for "
       "example Ground Truth's image-classification-multilabel, semantic-segmentation, text or verification)",
       "Ground Truth multi-label lines: rewrite them with 'manifestkit convert groundtruth'; other types cannot train a "
       "Custom Labels model: remove the pair"),
    _c("ERROR_NO_VALID_LABEL_ATTRIBUTES", "error", LINE, "No valid label attributes found.",
       "every label attribute pair of the line has an error", "fix the errors reported on the line's pairs"),
    _c("ERROR_MISSING_BOUNDING_BOX_CONFIDENCE", "error", METADATA,
       "One or more bounding boxes has a missing confidence value.",
       "objects has fewer entries than annotations, or an entry has no confidence",
       "give objects one {\"confidence\": 1} per annotation, in the same order"),
    _c("ERROR_MISSING_CLASS_MAP_ID", "error", METADATA, "One of more class ids is missing from the class map.",
       "an annotation's class_id is not a key of class-map", "add the class id and its label to class-map"),
    _c("ERROR_INVALID_BOUNDING_BOX", "error", ANNOTATION, "The bounding box has off frame values.",
       "left < 0, top < 0, left + width > image width, top + height > image height, or width/height <= 0",
       "clip the box to the image ('manifestkit fix' does) or remove it"),
    _c("ERROR_BOUNDING_BOX_TOO_SMALL", "error", ANNOTATION, "The height and width of the bounding box is too small.",
       "after Rekognition scales the image so its longer side is at most 1280 px, the box is 1 px or less "
       "wide or high", "remove the box, or draw it larger"),
    _c("ERROR_TOO_MANY_BOUNDING_BOXES", "error", LINE, "There are more bounding boxes than the allowed maximum.",
       "more than 50 annotations on one line (the whole line is dropped)",
       "keep at most 50 boxes per image (split the image or drop boxes)"),
    _c("ERROR_NO_VALID_ANNOTATIONS", "error", LINE, "No valid annotations found.",
       "every annotation of the line is invalid or too small", "fix the boxes reported on the line"),
    _c("ERROR_INVALID_LABEL_NAME_LENGTH", "error", METADATA, None,
       "a label (class-name or a class-map value) is empty or longer than 255 characters",
       "use label names of 1 to 255 characters"),
    _c("ERROR_INVALID_IMAGE", "error", LINE, "The image is invalid. Check S3 path and/or image properties.",
       "(with --images or --s3) the image is missing, not JPEG or PNG by content, larger than 15 MiB, "
       "corrupt, more than 20:1, or (image-level lines) outside 64..4096 px",
       "fix the path, or convert/resize the image"),
    _c("ERROR_INVALID_IMAGE_DIMENSION", "error", LINE, "The image dimension(s) do not conform to allowed dimensions.",
       "(with --images or --s3) a box line's image is narrower or lower than 64 px or wider or higher than "
       "4096 px", "resize the image to 64..4096 px per side and scale its boxes"),
    _c("WARNING_UNANNOTATED_RECORD", "warning", LINE, "Record is unannotated.",
       "the line has only source-ref (Rekognition ignores it)", "label the image, or remove the line"),
    _c("WARNING_NO_ANNOTATIONS", "warning", LINE, "No annotations were found.",
       "a human-annotated box line with no boxes (Rekognition ignores it)",
       "draw the boxes, or remove the line"),
    _c("WARNING_NO_ATTRIBUTE_ANNOTATIONS", "warning", ATTRIBUTE, "No attribute annotations were found.",
       "a box attribute whose annotations array is empty or missing", "draw the boxes, or remove the pair"),
    # --- per manifest, Rekognition's terminal codes (tm-debugging-aggregate-errors.md, debugging-datasets) ---
    _c("ERROR_MANIFEST_INACCESSIBLE_OR_UNSUPPORTED_FORMAT", "error", MANIFEST, None,
       "the manifest file name has no extension", "name the file NAME.manifest", terminal=True),
    _c("ERROR_MANIFEST_SIZE_TOO_LARGE", "error", MANIFEST, None,
       "the manifest is larger than 1 GiB (1,073,741,824 bytes)", "split it into several datasets",
       terminal=True),
    _c("ERROR_MANIFEST_ROWS_EXCEEDS_MAXIMUM", "error", MANIFEST, None,
       "more lines than 250,000 (object detection) or 500,000 (image-level labels); blank lines count",
       "split the manifest", terminal=True),
    _c("ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST", "error", MANIFEST,
       "The manifest file contains too many invalid rows.",
       "more than 20 % of the lines are invalid (blank and unparseable lines count; ignored lines do not)",
       "fix the line errors", terminal=True),
    _c("ERROR_IMAGES_IN_MULTIPLE_S3_BUCKETS", "error", MANIFEST,
       "The manifest file contains images from multiple S3 buckets.",
       "source-refs name more than one bucket", "copy all images into one bucket and rewrite the source-refs",
       terminal=True),
    _c("ERROR_INVALID_PERMISSIONS_IMAGES_S3_BUCKET", "error", MANIFEST,
       "The permissions for the images S3 bucket are invalid.",
       "(with --s3) reading an image was denied (403)",
       "grant s3:GetObject on the images to the identity that trains", terminal=True),
    _c("ERROR_MANIFEST_TOO_FEW_LABELS", "error", MANIFEST, "The manifest file has too few labels.",
       "fewer than 2 labels (image-level) or 1 label (boxes) on the usable lines", "add labelled images",
       terminal=True),
    _c("ERROR_MANIFEST_TOO_MANY_LABELS", "error", MANIFEST, "The manifest file has too many labels.",
       "more than 250 labels", "merge or drop labels", terminal=True),
    _c("ERROR_MANIFEST_TOO_FEW_USABLE_LABELS", "error", MANIFEST, "The manifest file has too few usable labels.",
       "as TOO_FEW_LABELS, counted after Rekognition kept only the lines of its chosen use case",
       "use one kind of label (image-level or boxes) per dataset", terminal=True),
    _c("ERROR_INSUFFICIENT_LABEL_OVERLAP", "error", MANIFEST,
       "Less than {}% label overlap between the training and testing manifest files.",
       "(with --test) fewer than 50 % of the training labels occur in the test manifest",
       "put images of every training label in the test set ('manifestkit split' does)", terminal=True),
    _c("ERROR_INSUFFICIENT_USABLE_LABEL_OVERLAP", "error", MANIFEST,
       "Less than {}% usable label overlap between the training and testing manifest files.",
       "as INSUFFICIENT_LABEL_OVERLAP, after use-case filtering", "as above", terminal=True),
    # --- manifestkit's own checks -------------------------------------------------------------------------
    _c("MK_MANIFEST_EMPTY", "error", MANIFEST, None,
       "the manifest has no line with content (Rekognition: \"The manifest file is empty.\")",
       "write the labelled lines into it", terminal=True),
    _c("MK_MANIFEST_EXTENSION", "warning", MANIFEST, None,
       "the file name has an extension other than .manifest (Rekognition documents only a missing extension "
       "as fatal)", "name the file NAME.manifest, the convention"),
    _c("MK_LINE_TOO_LONG", "error", LINE, None,
       "a line longer than 100,000 characters (Rekognition drops it)", "shorten the line (fewer boxes)"),
    _c("MK_UTF8_BOM", "warning", LINE, None,
       "the file starts with a UTF-8 byte order mark, which strict JSON parsers reject",
       "save the file as UTF-8 without BOM"),
    _c("MK_DUPLICATE_SOURCE_REF", "warning", LINE, None,
       "a source-ref already used on an earlier line (Rekognition keeps the first and drops the others)",
       "merge the labels of both lines into one line"),
    _c("MK_NON_INTEGER_COORDINATES", "warning", ATTRIBUTE, None,
       "box coordinates or image_size are not whole pixels (Ground Truth writes floats)",
       "round them ('manifestkit fix' does; 'manifestkit convert' writes integers)"),
    _c("MK_MIXED_USE_CASE", "warning", MANIFEST, None,
       "the manifest mixes image-level and box lines; Rekognition picks one use case (here: the kind with "
       "more usable lines, boxes on a tie) and drops the other kind's lines",
       "keep one kind of label per dataset"),
    _c("MK_IMAGE_SIZE_MISMATCH", "warning", ATTRIBUTE, None,
       "(with images) image_size differs from the size in the image header",
       "write the real size into image_size and check the boxes"),
    _c("MK_EXIF_ROTATED", "warning", LINE, None,
       "(with images) the JPEG has an EXIF orientation of 5-8, so viewers show it turned and with width "
       "and height swapped; boxes drawn on the displayed image do not fit the stored pixels "
       "(info on image-level lines)", "store the image upright: rotate the pixels and drop the tag ('manifestkit fix' does)"),
    _c("MK_IMAGE_TRUNCATED", "warning", LINE, None,
       "(with --images) the image file ends early (no JPEG end marker / PNG IEND)",
       "re-export or re-download the image"),
    _c("MK_IMAGE_NOT_CHECKED", "warning", LINE, None,
       "(with --images) the image could not be looked up locally: its source-ref is outside --s3-prefix or "
       "its key would leave the images folder (.., absolute path)",
       "pass the --s3-prefix that the images folder corresponds to"),
    _c("MK_IMAGE_IN_TRAIN_AND_TEST", "warning", LINE, None,
       "(with --test) the test manifest uses an image of the training manifest",
       "keep each image in one of the two sets ('manifestkit split' does)"),
]

CODES: dict[str, Code] = {c.code: c for c in _TABLE}
TERMINAL = frozenset(c.code for c in _TABLE if c.terminal)


def rekognition_message(code: str, arg: str | None = None) -> str:
    """Rekognition's own message for ``code`` (with ``{}`` filled by ``arg``), or the code itself."""
    c = CODES.get(code)
    msg = c.rekognition_message if c is not None and c.rekognition_message else code
    return msg.replace("{}", arg) if (arg is not None and "{}" in msg) else msg.replace("{}", "").replace("  ", " ")


class Finding:
    """One thing the validator found: code, severity, where (manifest, 1-based line, attribute, annotation)."""

    __slots__ = ("code", "severity", "line", "manifest", "message", "source_ref", "attribute", "annotation",
                 "scope", "rule", "details")

    def __init__(self, code: str, message: str, *, line: int | None = None, manifest: str | None = None,
                 severity: str | None = None, source_ref: str | None = None, attribute: str | None = None,
                 annotation: int | None = None, scope: str | None = None, rule: str = "semantic",
                 details: list[str] | None = None) -> None:
        c = CODES[code]
        self.code = code
        self.severity = severity or c.severity
        self.line = line
        self.manifest = manifest
        self.message = message
        self.source_ref = source_ref
        self.attribute = attribute
        self.annotation = annotation
        self.scope = scope or c.scope
        # "schema" when the finding is a violation the line schemas express (see docs/validate.md).
        self.rule = rule
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: code, severity, line (null for aggregate findings), manifest, message, ..."""
        d: dict[str, Any] = {"code": self.code, "severity": self.severity, "line": self.line,
                             "manifest": self.manifest, "message": self.message}
        if self.source_ref is not None:
            d["source_ref"] = self.source_ref
        if self.attribute is not None:
            d["attribute"] = self.attribute
        if self.annotation is not None:
            d["annotation"] = self.annotation
        if self.details:
            d["details"] = list(self.details)
        return d

    def __repr__(self) -> str:
        return f"Finding({self.code}, line={self.line}, {self.message!r})"
