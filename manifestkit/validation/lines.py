"""The hot path: check one manifest line with plain Python, in Rekognition's order and codes.

The shape rules mirror ``schemas/*.json`` exactly (the regular expressions are read from the schemas);
``tests/test_schemas.py`` proves the agreement with a differential test (docs/validate.md defines it). On top of the
shape, this module checks what a schema cannot express: attribute/metadata pairing, objects as long as
annotations, class ids in the class-map, box geometry and counts.

Order (Rekognition's precedence, tm-debugging-fixing-validation-errors.md): JSON, source-ref, label
attribute pairs, then per pair: type, attribute format, metadata format, missing confidence, missing
class-map id, more than 50 boxes, then each annotation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

import msgspec

from .. import schemas
from ..manifest import CLASSIFICATION_TYPE, DETECTION_TYPE, MULTILABEL_TYPE
from .findings import ATTRIBUTE, LINE, METADATA, Finding, rekognition_message

__all__ = ["CLS", "DET", "IGNORED", "INVALID", "LineResult", "MAX_BOXES", "MAX_LINE_CHARS", "VALID", "check_line"]

VALID, INVALID, IGNORED = 0, 1, 2
CLS, DET = 1, 2
MAX_LINE_CHARS = 100_000
MAX_BOXES = 50
MAX_LABEL = 255
RESERVED = frozenset({"errors", "warnings", "cl-errors", "cl-metadata"})

_SRC = re.compile(schemas.pattern(schemas.CLASSIFICATION, "source-ref"))
_META = re.compile(schemas.pattern(schemas.CLASSIFICATION, "metadata-key"))
_CID = re.compile(schemas.pattern(schemas.DETECTION, "class-id"))

_decode = msgspec.json.Decoder().decode
_MISSING: Any = object()
_R_SRC, _R_RES, _R_META, _R_ATTR = 0, 1, 2, 3
_roles: dict[str, int] = {"source-ref": _R_SRC}
_CLS_REQ = ("class-name", "confidence", "type", "human-annotated", "creation-date")
_DET_REQ = ("objects", "class-map", "type", "human-annotated", "creation-date")
_ANN_KEYS = ("class_id", "top", "left", "width", "height")

AF = "ERROR_INVALID_LABEL_ATTRIBUTE_FORMAT"
MF = "ERROR_INVALID_LABEL_ATTRIBUTE_METADATA_FORMAT"
NL = "ERROR_INVALID_LABEL_NAME_LENGTH"
MC = "ERROR_MISSING_BOUNDING_BOX_CONFIDENCE"


def _role(key: str) -> int:
    r = _roles.get(key)
    if r is None:
        if key in RESERVED:
            r = _R_RES
        elif _META.search(key):
            r = _R_META
        else:
            r = _R_ATTR
        if len(_roles) < 4096:  # attribute names repeat across lines; bound the cache all the same
            _roles[key] = r
    return r


def _is_int(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and v.is_integer())


def _is_num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


# Typed views of well-shaped values: msgspec converts (and so checks) them in C, which is the common case.
# When a conversion fails, the precise Python rules below decide the code (the two agree on valid input).
class _Ann(msgspec.Struct):
    class_id: Annotated[int, msgspec.Meta(ge=0)]
    top: Union[int, float]
    left: Union[int, float]
    width: Union[int, float]
    height: Union[int, float]


class _Size(msgspec.Struct):
    width: Union[Annotated[int, msgspec.Meta(gt=0)], Annotated[float, msgspec.Meta(gt=0)]]
    height: Union[Annotated[int, msgspec.Meta(gt=0)], Annotated[float, msgspec.Meta(gt=0)]]
    depth: Annotated[int, msgspec.Meta(ge=1)]


class _DetAttr(msgspec.Struct):
    image_size: Annotated[list[_Size], msgspec.Meta(min_length=1, max_length=1)]
    annotations: list[_Ann] = []


class _Obj(msgspec.Struct):
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]


_Label = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LABEL)]


class _DetMeta(msgspec.Struct):
    objects: list[_Obj]
    class_map: dict[str, _Label] = msgspec.field(name="class-map")
    type: str
    human_annotated: Literal["yes", "no"] = msgspec.field(name="human-annotated")
    creation_date: Annotated[str, msgspec.Meta(min_length=1)] = msgspec.field(name="creation-date")
    job_name: Union[str, msgspec.UnsetType] = msgspec.field(name="job-name", default=msgspec.UNSET)


class _ClsMeta(msgspec.Struct):
    class_name: _Label = msgspec.field(name="class-name")
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    type: str
    human_annotated: Literal["yes", "no"] = msgspec.field(name="human-annotated")
    creation_date: Annotated[str, msgspec.Meta(min_length=1)] = msgspec.field(name="creation-date")
    job_name: Union[str, msgspec.UnsetType] = msgspec.field(name="job-name", default=msgspec.UNSET)


_convert = msgspec.convert
_good_cids: set[str] = set()


def _cids_ok(cmap: dict[str, Any]) -> bool:
    for k in cmap:
        if k not in _good_cids:
            if not _CID.search(k):
                return False
            if len(_good_cids) < 4096:
                _good_cids.add(k)
    return True


class LineResult:
    """What one line contributes: status, findings, labels by kind, and what the image checks need.

    Defaults live on the class, so a clean line only sets what it has (this runs 500,000 times).
    """

    status = VALID
    findings: list[Finding] | None = None
    source_ref: str | None = None
    bucket: str | None = None
    cls_labels: list[str] | None = None
    det_labels: list[str] | None = None
    image_size: tuple[float, float] | None = None
    dropped_annotations = 0

    def add(self, f: Finding) -> None:
        if self.findings is None:
            self.findings = [f]
        else:
            self.findings.append(f)


# ------------------------------------------------------------------------------------------ shape rules
# Each returns None when the value matches its schema, else (code, reason).

def _common_meta(m: dict[str, Any]) -> str | None:
    ha = m["human-annotated"]
    if type(ha) is not str or (ha != "yes" and ha != "no"):
        return "human-annotated must be \"yes\" or \"no\""
    cd = m["creation-date"]
    if type(cd) is not str or not cd:
        return "creation-date must be a non-empty string"
    if "job-name" in m and type(m["job-name"]) is not str:
        return "job-name must be a string"
    return None


def cls_meta_shape(m: dict[str, Any]) -> tuple[str, str] | None:
    """Shape of image-classification metadata (a dict whose type is already checked)."""
    missing = [k for k in _CLS_REQ if k not in m]
    if missing:
        return MF, "missing " + ", ".join(missing)
    cn = m["class-name"]
    if type(cn) is not str:
        return MF, "class-name must be a string"
    conf = m["confidence"]
    if not _is_num(conf) or not 0 <= conf <= 1:
        return MF, "confidence must be a number from 0 to 1"
    if m["type"] != CLASSIFICATION_TYPE:
        return MF, f"type must be {CLASSIFICATION_TYPE}"
    why = _common_meta(m)
    if why:
        return MF, why
    if not 1 <= len(cn) <= MAX_LABEL:
        return NL, f"class-name has {len(cn)} characters; labels need 1 to {MAX_LABEL}"
    return None


def det_meta_shape(m: dict[str, Any]) -> tuple[str, str] | None:
    """Shape of object-detection metadata (a dict whose type is already checked)."""
    missing = [k for k in _DET_REQ if k not in m]
    if missing:
        return MF, "missing " + ", ".join(missing)
    objs = m["objects"]
    if type(objs) is not list:
        return MF, "objects must be a list of {\"confidence\": number}"
    cmap = m["class-map"]
    if type(cmap) is not dict:
        return MF, "class-map must be an object of class id -> label"
    if m["type"] != DETECTION_TYPE:
        return MF, f"type must be {DETECTION_TYPE}"
    why = _common_meta(m)
    if why:
        return MF, why
    no_conf = False
    for o in objs:
        if type(o) is not dict:
            return MF, "each objects entry must be an object {\"confidence\": number}"
        c = o.get("confidence", _MISSING)
        if c is _MISSING:
            no_conf = True
        elif not _is_num(c) or not 0 <= c <= 1:
            return MF, "confidence must be a number from 0 to 1"
    long_label = None
    for k, v in cmap.items():
        if not _CID.search(k):
            return MF, f"class-map key {k[:40]!r} is not a class id such as \"0\""
        if type(v) is not str:
            return MF, "class-map values must be label strings"
        if not 1 <= len(v) <= MAX_LABEL:
            long_label = v
    if long_label is not None:
        return NL, f"a class-map label has {len(long_label)} characters; labels need 1 to {MAX_LABEL}"
    if no_conf:
        return MC, "an objects entry has no confidence"
    return None


def _size_shape(a: dict[str, Any]) -> str | None:
    s = a["image_size"]
    if type(s) is not list or len(s) != 1 or type(s[0]) is not dict:
        return "image_size must be a list of one {\"width\", \"height\", \"depth\"} object"
    s0 = s[0]
    w, h, d = s0.get("width", _MISSING), s0.get("height", _MISSING), s0.get("depth", _MISSING)
    if w is _MISSING or h is _MISSING or d is _MISSING:
        return "image_size needs width, height and depth"
    if not _is_num(w) or not w > 0 or not _is_num(h) or not h > 0:
        return "image_size width and height must be positive numbers"
    if not _is_int(d) or d < 1:
        return "image_size depth must be a positive integer (3 for RGB)"
    return None


def _ann_shape(ann: Any) -> str | None:
    if type(ann) is not dict:
        return "each annotation must be an object"
    for k in _ANN_KEYS:
        v = ann.get(k, _MISSING)
        if v is _MISSING:
            return f"an annotation has no {k}"
        if k == "class_id":
            if not _is_int(v) or v < 0:
                return "class_id must be an integer >= 0"
        elif not _is_num(v):
            return f"annotation {k} must be a number"
    return None


def det_attr_shape(a: Any) -> str | None:
    """Shape of an object-detection attribute value; None when it matches."""
    if type(a) is not dict:
        return "the value must be an object with image_size and annotations"
    if "image_size" not in a:
        return "missing image_size"
    why = _size_shape(a)
    if why:
        return why
    anns = a.get("annotations", _MISSING)
    if anns is _MISSING:
        return None
    if type(anns) is not list:
        return "annotations must be a list"
    for ann in anns:
        why = _ann_shape(ann)
        if why:
            return why
    return None


def meta_shape(m: Any) -> tuple[str, str] | None:
    """Shape of any ``-metadata`` value, dispatched on its own type."""
    if type(m) is not dict:
        return MF, "the metadata must be a JSON object"
    t = m.get("type", _MISSING)
    if t == CLASSIFICATION_TYPE and type(t) is str:
        return cls_meta_shape(m)
    if t == DETECTION_TYPE and type(t) is str:
        return det_meta_shape(m)
    if t is _MISSING:
        return MF, "missing type"
    if type(t) is not str:
        return MF, "type must be a string"
    return "ERROR_UNSUPPORTED_USE_CASE_TYPE", f"type {t[:80]!r} is not supported"


# ------------------------------------------------------------------------------------------ the line


def _unsupported_message(meta_key: str, t: str) -> str:
    if t == MULTILABEL_TYPE:
        return (f"{meta_key} is Ground Truth's native multi-label type ({t}), which Rekognition does not "
                "accept: rewrite the manifest with 'manifestkit convert groundtruth' (one image-classification pair per "
                "label)")
    return (f"{meta_key} has type {t[:80]!r}; Rekognition trains only groundtruth/image-classification and "
            "groundtruth/object-detection: remove this pair or relabel the image")


def _f(r: LineResult, code: str, msg: str, n: int, manifest: str, **kw: Any) -> None:
    r.add(Finding(code, msg, line=n, manifest=manifest, source_ref=r.source_ref, **kw))


def _invalid_json(r: LineResult, n: int, manifest: str, why: str) -> LineResult:
    r.status = INVALID
    _f(r, "ERROR_INVALID_JSON_LINE", f"{why}: make the line one JSON object, or delete it", n, manifest,
       rule="schema")
    return r


def check_line(raw: bytes, n: int, manifest: str) -> LineResult:
    """Check one line (bytes without the trailing newline). ``n`` is its 1-based number. Never raises."""
    r = LineResult()
    if raw[-1:] == b"\r":
        raw = raw[:-1]
    if len(raw) > MAX_LINE_CHARS:
        chars = len(raw.decode("utf-8", "replace"))
        if chars > MAX_LINE_CHARS:
            r.status = INVALID
            _f(r, "MK_LINE_TOO_LONG", f"the line has {chars:,} characters; Rekognition drops lines over "
               f"{MAX_LINE_CHARS:,}: shorten it (fewer boxes or shorter names)", n, manifest)
            return r
    try:
        obj = _decode(raw)
    except UnicodeDecodeError:
        return _invalid_json(r, n, manifest, "the line is not UTF-8 text")
    except RecursionError:
        return _invalid_json(r, n, manifest, "the JSON is nested too deeply")
    except (msgspec.DecodeError, ValueError, OverflowError) as e:
        if not raw.strip():
            return _invalid_json(r, n, manifest, "blank line (Rekognition counts it as an invalid line)")
        return _invalid_json(r, n, manifest, f"invalid JSON ({str(e)[:120]})")
    if type(obj) is not dict:
        return _invalid_json(r, n, manifest, f"the line is a JSON {type(obj).__name__.replace('NoneType', 'null')}, "
                                              "not an object")
    ref = obj.get("source-ref", _MISSING)
    if ref is _MISSING:
        r.status = INVALID
        _f(r, "ERROR_MISSING_SOURCE_REF", "no source-ref key: add \"source-ref\": \"s3://BUCKET/KEY\"", n,
           manifest, rule="schema")
        return r
    if type(ref) is not str or not _SRC.search(ref):
        r.status = INVALID
        shown = ref[:100] if type(ref) is str else type(ref).__name__
        _f(r, "ERROR_INVALID_SOURCE_REF_FORMAT", f"source-ref {shown!r} is not s3://BUCKET/KEY: write the "
           "image's full S3 URI", n, manifest, rule="schema")
        return r
    r.source_ref = ref
    r.bucket = ref[5:ref.index("/", 5)]  # the schema pattern guarantees the "/" after the bucket

    attrs: list[str] = []
    metas: list[str] = []
    for k in obj:
        role = _roles.get(k)
        if role is None:
            role = _role(k)
        if role == _R_ATTR:
            attrs.append(k)
        elif role == _R_META:
            metas.append(k)

    pairs: list[str] = []
    strays: list[str] = []
    for a in attrs:
        mk = a + "-metadata"
        if mk in obj and (_roles.get(mk) or _role(mk)) == _R_META:
            pairs.append(a)
        else:
            strays.append(a)
    if len(metas) == len(pairs):
        orphans: list[str] = []
    else:
        paired = {a + "-metadata" for a in pairs}
        orphans = [m for m in metas if m not in paired]

    n_valid = n_invalid = n_ignored = 0
    too_many = False
    empty_human = False
    declared = 0
    for a in pairs:
        mk = a + "-metadata"
        m = obj[mk]
        if type(m) is not dict:
            n_invalid += 1
            _f(r, MF, f"{mk} must be a JSON object", n, manifest, attribute=a, scope=LINE, rule="schema")
            continue
        t = m.get("type")
        v = obj[a]
        # Only strings compare equal to the type strings, so no separate type test is needed.
        if t == CLASSIFICATION_TYPE:
            declared |= CLS
        elif t == DETECTION_TYPE:
            declared |= DET
        else:
            n_invalid += 1
            if type(t) is str:
                _f(r, "ERROR_UNSUPPORTED_USE_CASE_TYPE", _unsupported_message(mk, t), n, manifest, attribute=a,
                   rule="schema")
            else:
                _f(r, MF, f"{mk}: {'missing type' if 'type' not in m else 'type must be a string'}; use "
                   f"{CLASSIFICATION_TYPE} or {DETECTION_TYPE}", n, manifest, attribute=a, rule="schema")
            continue
        if t == CLASSIFICATION_TYPE:
            if not _is_int(v):
                n_invalid += 1
                _f(r, AF, f"label attribute {a!r} of an image-level label must be an integer (any value), not "
                   f"{_kind(v)}", n, manifest, attribute=a, scope=LINE if type(v) is not dict else ATTRIBUTE,
                   rule="schema")
                continue
            try:
                label = _convert(m, _ClsMeta).class_name
            except msgspec.ValidationError:
                bad = cls_meta_shape(m)
                if bad:
                    n_invalid += 1
                    _f(r, bad[0], f"{mk}: {bad[1]}", n, manifest, attribute=a, rule="schema")
                    continue
                label = m["class-name"]
            n_valid += 1
            if r.cls_labels is None:
                r.cls_labels = [label]
            else:
                r.cls_labels.append(label)
            continue
        # object detection
        try:
            attr = _convert(v, _DetAttr)
            meta = _convert(m, _DetMeta)
            if not _cids_ok(meta.class_map):
                raise msgspec.ValidationError("class-map key")
            anns = attr.annotations
            size = attr.image_size[0]
            W, H = size.width, size.height
            n_objs = len(meta.objects)
        except msgspec.ValidationError:
            why = det_attr_shape(v)
            if why:
                n_invalid += 1
                _f(r, AF, f"label attribute {a!r}: {why}", n, manifest, attribute=a,
                   scope=ATTRIBUTE if type(v) is dict else LINE, rule="schema")
                continue
            bad = det_meta_shape(m)
            if bad:
                n_invalid += 1
                _f(r, bad[0], f"{mk}: {bad[1]}" + ("; give objects one {\"confidence\": 1} per annotation"
                                                   if bad[0] == MC else ""), n, manifest, attribute=a,
                   rule="schema")
                continue
            # Well-shaped, but outside what the typed view holds (a class_id written 1.0, a huge integer).
            anns = [_Ann(int(d["class_id"]), d["top"], d["left"], d["width"], d["height"])
                    for d in v.get("annotations") or ()]
            W, H = v["image_size"][0]["width"], v["image_size"][0]["height"]
            n_objs = len(m["objects"])
        status = _check_boxes(r, a, W, H, anns, n_objs, m["class-map"], n, manifest)
        if status == VALID:
            n_valid += 1
        elif status == IGNORED:
            n_ignored += 1
            if m.get("human-annotated") == "yes":
                empty_human = True
        elif status == -1:
            too_many = True
            n_invalid += 1
        else:
            n_invalid += 1

    if not pairs and (strays or orphans):
        r.status = INVALID
        _f(r, "ERROR_NO_LABEL_ATTRIBUTES", "no label attribute pair: every label attribute ATTR needs an "
           "ATTR-metadata object with exactly that name", n, manifest)
    # Keys outside pairs: their shape still matters (the schema covers every key).
    for mk in orphans:
        m = obj[mk]
        bad = meta_shape(m)
        if type(m) is dict:
            t = m.get("type")
            if t == CLASSIFICATION_TYPE:
                declared |= CLS
            elif t == DETECTION_TYPE:
                declared |= DET
        if bad:
            code, why = bad
            if code == "ERROR_UNSUPPORTED_USE_CASE_TYPE" and type(m) is dict:
                why = _unsupported_message(mk, m["type"])
            _f(r, code, f"{mk} (without a matching label attribute): {why}", n, manifest,
               attribute=mk[:-len("-metadata")] if mk.endswith("-metadata") else mk,
               scope=METADATA if type(m) is dict else LINE, rule="schema")
    for a in strays:
        v = obj[a]
        if declared == DET:
            why = det_attr_shape(v)
        elif declared == CLS | DET:
            why = None if _is_int(v) or det_attr_shape(v) is None else "not a label attribute value"
        else:
            why = None if _is_int(v) else f"must be an integer (any value), not {_kind(v)}"
        if why:
            _f(r, AF, f"key {a[:80]!r} has no {a[:80]}-metadata and is not a valid label attribute: {why}; "
               "remove it or add its metadata", n, manifest, attribute=a,
               scope=ATTRIBUTE if type(v) is dict else LINE, rule="schema")

    if not pairs:
        if not (strays or orphans):
            r.status = IGNORED
            _f(r, "WARNING_UNANNOTATED_RECORD", "the line has only a source-ref, so Rekognition ignores it: "
               "label the image or remove the line", n, manifest)
    elif too_many:
        r.status = INVALID
    elif n_valid:
        r.status = VALID
    elif n_invalid:
        r.status = INVALID
        if not any(f.scope == LINE and f.code in ("ERROR_NO_VALID_ANNOTATIONS",) for f in r.findings or ()):
            _f(r, "ERROR_NO_VALID_LABEL_ATTRIBUTES", "no label attribute pair of the line is valid: fix the "
               "errors reported on its pairs", n, manifest)
    else:
        r.status = IGNORED
        if empty_human:
            _f(r, "WARNING_NO_ANNOTATIONS", "the image is marked human-annotated but has no boxes, so "
               "Rekognition ignores it: draw its boxes or remove the line", n, manifest)
    if r.status != VALID:
        r.cls_labels = r.det_labels = None
    return r


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", str: "a string", float: "a fraction", list: "a list", dict: "an object",
            int: "an integer"}.get(type(v), type(v).__name__)


def _num(x: Any) -> Any:
    return int(x) if type(x) is float and x.is_integer() and abs(x) < 1e15 else x


def _check_boxes(r: LineResult, a: str, W: Any, H: Any, anns: list[_Ann], n_objs: int, cmap: dict[str, str],
                 n: int, manifest: str) -> int:
    """Checks of a well-shaped detection pair: VALID, IGNORED, INVALID, or -1 (too many boxes: line dropped)."""
    nonint_size = type(W) is float and not W.is_integer() or type(H) is float and not H.is_integer()
    mk = a + "-metadata"
    count = len(anns)
    if count == 0:
        _f(r, "WARNING_NO_ATTRIBUTE_ANNOTATIONS", f"label attribute {a!r} has no boxes, so Rekognition ignores "
           "it: draw its boxes or remove the pair", n, manifest, attribute=a)
        if nonint_size:
            _nonint(r, a, [], True, n, manifest)
        return IGNORED
    if n_objs < count:
        _f(r, MC, f"{mk}: objects has {n_objs} entries for {count} annotations; give objects one "
           "{\"confidence\": 1} per annotation, in the same order", n, manifest, attribute=a)
        return INVALID
    names = [cmap.get(str(x.class_id)) for x in anns]
    if None in names:
        missing = list(dict.fromkeys(str(x.class_id) for x, nm in zip(anns, names) if nm is None))
        _f(r, "ERROR_MISSING_CLASS_MAP_ID", f"{mk}: class id(s) {', '.join(missing[:10])} used by annotations "
           "are not in class-map: add them with their labels", n, manifest, attribute=a)
        return INVALID
    if count > MAX_BOXES:
        _f(r, "ERROR_TOO_MANY_BOUNDING_BOXES", f"label attribute {a!r} has {count} boxes; Rekognition allows "
           f"{MAX_BOXES} per image and drops the line: keep at most {MAX_BOXES}", n, manifest, attribute=a)
        return -1
    try:
        longest = W if W >= H else H
        scale = 1280.0 / longest if longest > 1280 else 1.0  # Rekognition's downscale (decisions.md)
    except OverflowError:
        scale = 0.0
    # Fast pass for the common case: integer boxes, all inside the frame and large enough.
    try:
        clean = not nonint_size
        if clean:
            for ann in anns:
                left, top, w, h = ann.left, ann.top, ann.width, ann.height
                if (type(left + top + w + h) is not int or left < 0 or top < 0 or w * scale <= 1
                        or h * scale <= 1 or left + w > W or top + h > H):
                    clean = False
                    break
    except OverflowError:
        clean = False
    if clean:
        if r.det_labels is None:
            r.det_labels = names  # type: ignore[assignment]  # no None left: checked above
        else:
            r.det_labels.extend(names)  # type: ignore[arg-type]
        if r.image_size is None:
            r.image_size = (W, H)
        return VALID
    nonint: list[int] | None = None
    good = 0
    labels = r.det_labels
    for i, ann in enumerate(anns):
        left, top, w, h = ann.left, ann.top, ann.width, ann.height
        # All-integer boxes (the common case) sum to an int: one type test instead of four.
        if type(left + top + w + h) is not int and (
                type(left) is float and not left.is_integer() or type(top) is float and not top.is_integer()
                or type(w) is float and not w.is_integer() or type(h) is float and not h.is_integer()):
            if nonint is None:
                nonint = [i]
            else:
                nonint.append(i)
        try:
            off = left < 0 or top < 0 or w <= 0 or h <= 0 or left + w > W or top + h > H
            if scale == 1.0:
                small = not off and (w <= 1 or h <= 1)
            else:
                small = not off and (w * scale <= 1 or h * scale <= 1)
        except OverflowError:  # an integer beyond any float: certainly off the frame
            off, small = True, False
        if off:
            r.dropped_annotations += 1
            _f(r, "ERROR_INVALID_BOUNDING_BOX", f"box {i} of {a!r} (left {_num(left)}, top {_num(top)}, width "
               f"{_num(w)}, height {_num(h)}) is not inside the {_num(W)}x{_num(H)} image: clip it to the image "
               "or remove it", n, manifest, attribute=a, annotation=i)
            continue
        if small:
            r.dropped_annotations += 1
            _f(r, "ERROR_BOUNDING_BOX_TOO_SMALL", f"box {i} of {a!r} ({_num(w)}x{_num(h)} px) is 1 px or less once "
               f"the {_num(W)}x{_num(H)} image is scaled to at most 1280 px: remove it or draw it larger", n,
               manifest, attribute=a, annotation=i)
            continue
        good += 1
        label = names[i]
        if labels is None:
            labels = r.det_labels = [label]
        else:
            labels.append(label)
    if nonint or nonint_size:
        _nonint(r, a, nonint or [], nonint_size, n, manifest)
    if good == 0:
        _f(r, "ERROR_NO_VALID_ANNOTATIONS", f"none of the {count} boxes of {a!r} is valid, so Rekognition drops "
           "the line: fix the boxes reported above", n, manifest, attribute=a)
        return INVALID
    if r.image_size is None:
        r.image_size = (W, H)
    return VALID


def _nonint(r: LineResult, a: str, idx: list[int], size: bool, n: int, manifest: str) -> None:
    parts = []
    if idx:
        shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
        parts.append(f"box(es) {shown}")
    if size:
        parts.append("image_size")
    _f(r, "MK_NON_INTEGER_COORDINATES", f"{' and '.join(parts)} of {a!r} are not whole pixels: round them "
       "(Rekognition documents integers)", n, manifest, attribute=a,
       annotation=idx[0] if len(idx) == 1 and not size else None)


def explain_kind(obj: dict[str, Any]) -> str:
    """The schema a line is explained against: detection if any metadata declares it, else classification."""
    for k, v in obj.items():
        if type(v) is dict and v.get("type") == DETECTION_TYPE and _META.search(k):
            return schemas.DETECTION
    return schemas.CLASSIFICATION


def rek_message(f: Finding) -> str:
    """Rekognition's message for a finding (the label attribute or metadata name filled in)."""
    arg = None
    if f.code == AF:
        arg = f.attribute or ""
    elif f.code == "ERROR_UNSUPPORTED_USE_CASE_TYPE":
        arg = (f.attribute or "") + "-metadata"
    elif f.code in ("ERROR_INSUFFICIENT_LABEL_OVERLAP", "ERROR_INSUFFICIENT_USABLE_LABEL_OVERLAP"):
        arg = "50"
    return rekognition_message(f.code, arg)
