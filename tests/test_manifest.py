from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE
from manifestkit.errors import ManifestError, ManifestKitError
from manifestkit.manifest import (
    atomic_writer,
    creation_date,
    item_to_line,
    manifest_path,
    parse_line,
    read_manifest,
    write_manifest,
)
from manifestkit.model import Box, Dataset, ImageItem, Task

DATE = "2024-05-01T12:00:00"


def cls_dataset(items: list[ImageItem]) -> Dataset:
    labels = sorted({lab for it in items for lab in it.labels})
    return Dataset(Task.CLASSIFICATION, items, {lab: i for i, lab in enumerate(labels)})


def lines(path: str | Path) -> list[dict]:
    # Split on b"\n" only, as JSON Lines readers do: str.splitlines() would also split on U+0085 or U+2028.
    return [json.loads(x) for x in Path(path).read_bytes().split(b"\n") if x]


def test_single_label_line_has_rekognition_form(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("rose/1.jpg", 100, 100, labels=("rose",)),
                      ImageItem("tulip/2.png", 100, 100, labels=("tulip",))])
    summary = write_manifest(ds, tmp_path / "out.manifest", s3_prefix="s3://bkt/flowers",
                             creation_date_value=DATE)
    first, second = lines(tmp_path / "out.manifest")
    assert first == {
        "source-ref": "s3://bkt/flowers/rose/1.jpg",
        "label": 0,
        "label-metadata": {"class-name": "rose", "confidence": 1, "type": "groundtruth/image-classification",
                           "human-annotated": "yes", "creation-date": "2024-05-01T12:00:00.000000",
                           "job-name": "manifestkit"},
    }
    assert second["label"] == 1 and second["label-metadata"]["class-name"] == "tulip"
    assert summary.images == 2 and summary.labels == {"rose": 1, "tulip": 1}


def test_multi_label_line_has_one_pair_per_label(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("p.png", 100, 100, labels=("fern", "with_leaves"))])
    write_manifest(ds, tmp_path / "m.manifest", s3_prefix="s3://bkt/", label_attribute="plant",
                   creation_date_value=DATE)
    (line,) = lines(tmp_path / "m.manifest")
    assert [k for k in line] == ["source-ref", "plant", "plant-metadata", "plant-1", "plant-1-metadata"]
    assert line["plant-1-metadata"]["class-name"] == "with_leaves"
    assert line["plant-1-metadata"]["type"] == "groundtruth/image-classification"


def test_detection_line(tmp_path: Path) -> None:
    item = ImageItem("a/b.jpg", 640, 480, depth=3, boxes=(Box("cap", 40, 60, 200, 120, class_id=0),
                                                          Box("res", 500, 300, 64, 48, class_id=3)))
    ds = Dataset(Task.DETECTION, [item], {"cap": 0, "res": 3})
    write_manifest(ds, tmp_path / "d.manifest", s3_prefix="s3://bkt/p/", creation_date_value=DATE)
    (line,) = lines(tmp_path / "d.manifest")
    assert line["bounding-box"] == {
        "image_size": [{"width": 640, "height": 480, "depth": 3}],
        "annotations": [{"class_id": 0, "left": 40, "top": 60, "width": 200, "height": 120},
                        {"class_id": 3, "left": 500, "top": 300, "width": 64, "height": 48}],
    }
    meta = line["bounding-box-metadata"]
    assert meta["objects"] == [{"confidence": 1}, {"confidence": 1}]
    assert meta["class-map"] == {"0": "cap", "3": "res"}
    assert meta["type"] == "groundtruth/object-detection"


def test_output_is_compact_utf8_and_newline_terminated(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("crème/1.jpg", labels=("crème brûlée",)), ImageItem("x/2.jpg", labels=("x",))])
    write_manifest(ds, tmp_path / "u.manifest", s3_prefix="s3://bkt/", creation_date_value=DATE)
    raw = (tmp_path / "u.manifest").read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw and b", " not in raw
    assert "crème brûlée".encode() in raw


def test_extension_is_added(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("a/1.jpg", labels=("a",))])
    s = write_manifest(ds, tmp_path / "train", s3_prefix="s3://bkt/", creation_date_value=DATE)
    assert s.output == str(tmp_path / "train.manifest") and os.path.exists(s.output)
    assert manifest_path("x.manifest") == "x.manifest"


def test_duplicate_source_ref_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("a/1.jpg", labels=("a",)), ImageItem("a/1.jpg", labels=("b",))])
    with pytest.raises(ManifestError, match="same source-ref"):
        write_manifest(ds, tmp_path / "d.manifest", s3_prefix="s3://bkt/", creation_date_value=DATE)
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.manifest"
    target.write_text("old\n")

    def items():
        yield ImageItem("a/1.jpg", labels=("a",))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_manifest(Dataset(Task.CLASSIFICATION, items(), {"a": 0}), target, s3_prefix="s3://bkt/",
                       creation_date_value=DATE)
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["keep.manifest"]


def test_atomic_writer_replaces(tmp_path: Path) -> None:
    with atomic_writer(tmp_path / "f.txt", "w") as fp:
        fp.write("hello")
    assert (tmp_path / "f.txt").read_text() == "hello"


def test_unlabelled_classification_item_is_noted_not_written(tmp_path: Path) -> None:
    ds = cls_dataset([ImageItem("root.jpg"), ImageItem("a/1.jpg", labels=("a",))])
    s = write_manifest(ds, tmp_path / "o.manifest", s3_prefix="s3://bkt/", creation_date_value=DATE)
    assert len(lines(tmp_path / "o.manifest")) == 1
    assert s.notes["MK_UNLABELLED_IMAGE"].count == 1


@pytest.mark.parametrize("bad", ["source-ref", "x-metadata", "mask-ref", "cl-metadata",
                                 "rekognition-custom-labels-training-0"])
def test_bad_label_attribute_is_refused(tmp_path: Path, bad: str) -> None:
    ds = cls_dataset([ImageItem("a/1.jpg", labels=("a",))])
    with pytest.raises(ManifestKitError, match="label attribute"):
        write_manifest(ds, tmp_path / "o.manifest", s3_prefix="s3://bkt/", label_attribute=bad,
                       creation_date_value=DATE)
    assert not (tmp_path / "o.manifest").exists()


@pytest.mark.parametrize("prefix", ["bkt/x/", "https://bkt/x/", "s3://a/x/", "s3://bad bucket/x/"])
def test_bad_s3_prefix_is_refused(tmp_path: Path, prefix: str) -> None:
    ds = cls_dataset([ImageItem("a/1.jpg", labels=("a",))])
    with pytest.raises(ManifestKitError):
        write_manifest(ds, tmp_path / "o.manifest", s3_prefix=prefix, creation_date_value=DATE)


def test_creation_date_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    assert creation_date("2024-05-01") == "2024-05-01T00:00:00.000000"
    assert creation_date("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00.000000"
    assert creation_date("2024-05-01T14:00:00+02:00") == "2024-05-01T12:00:00.000000"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert creation_date() == "2023-11-14T22:13:20.000000"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(ManifestKitError, match="SOURCE_DATE_EPOCH"):
        creation_date()
    with pytest.raises(ManifestKitError, match="ISO 8601"):
        creation_date("yesterday")


def test_source_date_epoch_gives_identical_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    mk = lambda: cls_dataset([ImageItem("a/1.jpg", labels=("a",)), ImageItem("b/1.jpg", labels=("b",))])  # noqa: E731
    write_manifest(mk(), tmp_path / "1.manifest", s3_prefix="s3://bkt/")
    write_manifest(mk(), tmp_path / "2.manifest", s3_prefix="s3://bkt/")
    assert (tmp_path / "1.manifest").read_bytes() == (tmp_path / "2.manifest").read_bytes()


# ------------------------------------------------------------------------------------------- reading

label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@st.composite
def detection_items(draw: st.DrawFn) -> list[ImageItem]:
    labels = draw(st.lists(label_text, min_size=1, max_size=5, unique=True))
    n = draw(st.integers(1, 8))
    items = []
    for i in range(n):
        W, H = draw(st.integers(64, 4096)), draw(st.integers(64, 4096))
        boxes = []
        for _ in range(draw(st.integers(0, 6))):
            x, y = draw(st.integers(0, W - 2)), draw(st.integers(0, H - 2))
            boxes.append(Box(draw(st.sampled_from(labels)), x, y, draw(st.integers(1, W - x)),
                             draw(st.integers(1, H - y))))
        items.append(ImageItem(f"img/{i}.jpg", W, H, boxes=tuple(boxes)))
    return items


@settings(max_examples=60, deadline=None)
@given(detection_items())
def test_detection_round_trip(tmp_path_factory: pytest.TempPathFactory, items: list[ImageItem]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    classes = {lab: i for i, lab in enumerate(sorted({b.label for it in items for b in it.boxes}))}
    write_manifest(Dataset(Task.DETECTION, items, classes), tmp / "d.manifest", s3_prefix="s3://bkt/p/",
                   creation_date_value=DATE)
    back = list(read_manifest(tmp / "d.manifest"))
    assert [b.path for b in back] == ["p/" + it.path for it in items]
    for orig, got in zip(items, back):
        assert (got.width, got.height) == (orig.width, orig.height)
        assert [(b.label, b.left, b.top, b.width, b.height) for b in got.boxes] == \
               [(b.label, b.left, b.top, b.width, b.height) for b in orig.boxes]
    for line in lines(tmp / "d.manifest"):
        cmap = line["bounding-box-metadata"]["class-map"]
        assert all(str(a["class_id"]) in cmap for a in line["bounding-box"]["annotations"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(label_text, min_size=1, max_size=4, unique=True), min_size=1, max_size=10))
def test_classification_round_trip(tmp_path_factory: pytest.TempPathFactory, label_sets: list[list[str]]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    items = [ImageItem(f"i/{n}.png", labels=tuple(ls)) for n, ls in enumerate(label_sets)]
    write_manifest(cls_dataset(items), tmp / "c.manifest", s3_prefix="s3://bkt/", creation_date_value=DATE)
    ds = read_manifest(tmp / "c.manifest")
    assert ds.task is Task.CLASSIFICATION
    assert [it.labels for it in ds] == [tuple(ls) for ls in label_sets]


def test_read_manifest_handles_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    line = ('{"source-ref":"s3://b1b/a.jpg","x":0,"x-metadata":{"class-name":"a","confidence":1,'
            '"type":"groundtruth/image-classification","human-annotated":"yes","creation-date":"2024"}}')
    (tmp_path / "m.manifest").write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\r\n\r\n" + line.encode() + b"\r\n")
    got = list(read_manifest(tmp_path / "m.manifest"))
    assert [g.labels for g in got] == [("a",), ("a",)] and [g.line for g in got] == [1, 3]


def test_read_manifest_names_the_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "m.manifest"
    p.write_text('{"source-ref":"s3://bkt/a.jpg"}\n{not json\n')
    with pytest.raises(ManifestError, match=r"m\.manifest:2: invalid JSON"):
        list(read_manifest(p))
    ds = read_manifest(p, skip_invalid=True)
    assert len(list(ds)) == 1 and ds.summary.notes["ERROR_INVALID_JSON_LINE"].count == 1


def test_read_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.manifest")


def test_read_gt_native_multilabel() -> None:
    block = Path(CONFORMANCE, "amazon-sagemaker-developer-guide/doc_source/sms-data-output.md.blocks/block-07.json")
    item = parse_line(json.loads(block.read_text()))
    assert len(item.labels) == 3


def test_read_real_gt_detection_output_keeps_float_boxes() -> None:
    p = Path(CONFORMANCE, "amazon-sagemaker-examples/archived/pytorch_yolov5_training_and_hpo/sample_output.manifest")
    ds = read_manifest(p)
    items = list(ds)
    assert ds.task is Task.DETECTION and len(items) == 100
    assert sum(len(i.boxes) for i in items) == 192
    assert {b.label for i in items for b in i.boxes} == {"Bird"}
    assert any(not float(b.left).is_integer() for i in items for b in i.boxes)


def test_read_real_gt_classification_output() -> None:
    p = Path(CONFORMANCE, "amazon-sagemaker-examples/prepare_data/"
             "sm-ground_truth_annotation_consolidation_image_classification/ic_data/output.manifest")
    items = list(read_manifest(p))
    assert len(items) == 302
    assert len({lab for i in items for lab in i.labels}) == 10


def test_read_doc_multilabel_two_attributes() -> None:
    p = Path(CONFORMANCE, "amazon-rekognition-custom-labels-developer-guide/derived/doc-multilabel-two-attributes.manifest")
    (item,) = list(read_manifest(p))
    assert len(item.labels) == 2


@pytest.mark.parametrize("meta_extra", [{"objects": 5}, {"class-map": [1]}, {"objects": None}])
def test_parse_line_tolerates_wrong_metadata_types(meta_extra: dict) -> None:
    line = {"source-ref": "s3://bkt/a.jpg",
            "bb": {"image_size": [{"width": 100, "height": 100, "depth": 3}],
                   "annotations": [{"class_id": 0, "left": 1, "top": 1, "width": 5, "height": 5}]},
            "bb-metadata": {"type": "groundtruth/object-detection", "class-map": {"0": "a"}, **meta_extra}}
    item = parse_line(line)
    assert len(item.boxes) == 1 and item.boxes[0].confidence == 1.0


def test_parse_line_refuses_non_list_annotations() -> None:
    line = {"source-ref": "s3://bkt/a.jpg", "bb": {"annotations": 5},
            "bb-metadata": {"type": "groundtruth/object-detection"}}
    with pytest.raises(ManifestError, match="not a list"):
        parse_line(line, line=7)


@settings(max_examples=150, deadline=None)
@given(detection_items(), st.text(min_size=1, max_size=12).filter(lambda a: "-metadata" not in a),
       st.booleans())
def test_fast_detection_encoder_matches_the_dict_form(items: list[ImageItem], attribute: str,
                                                      with_ids: bool) -> None:
    from manifestkit.manifest import _DetectionEncoder, _encode

    labels = sorted({b.label for it in items for b in it.boxes})
    classes = {lab: i * 3 for i, lab in enumerate(labels)}
    enc = _DetectionEncoder(attribute, "2024-05-01T12:00:00.000000")
    for it in items:
        if with_ids:
            it = ImageItem(it.path, it.width, it.height, boxes=tuple(
                Box(b.label, b.left + 0.4, b.top, b.width, b.height, class_id=7) for b in it.boxes))
        ref = "s3://bkt/" + it.path + "\u00e9\""
        expected = _encode(item_to_line(it, task=Task.DETECTION, source_ref=ref, classes=classes,
                                        attribute=attribute, date="2024-05-01T12:00:00.000000")) + b"\n"
        data, box_labels = enc.line(it, ref, classes)
        assert data == expected and box_labels == [b.label for b in it.boxes]
