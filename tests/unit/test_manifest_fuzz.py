"""Any bytes uploaded as a manifest end in a verdict: a Manifest, or a ManifestError whose
reasons are specific, storable text — never another exception.

Hypothesis runs with a fixed seed (``derandomize``) and fixed budgets, so every CI run tries
the same 2,300 documents in a bounded time: valid manifests (all must be accepted), valid
manifests mutated field by field with hostile values, and hostile JSON and bytes (deep
nesting, huge numbers, lone surrogates, odd unicode, wrong types, random and broken bytes).
The readers a rejection report uses (``rejection_webhook_url``, ``listed_scene_count``) are
held to the same rule on every example.
"""

import json
import math
import random
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.manifest import (
    MAX_REPORTED_ERRORS,
    Manifest,
    ManifestError,
    listed_scene_count,
    parse_manifest,
    rejection_webhook_url,
)
from chalicelib.manifest_fields import MAX_SCENE_NAME_BYTES

VALID_EXAMPLES = 300
MUTATED_EXAMPLES = 1200
HOSTILE_EXAMPLES = 800

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# A reason names its field or scene ("scenes[2] (scene 'x').audio_path: ..."), or is one of
# the whole-manifest reasons, each of which names what is wrong with the document.
SPECIFIC = re.compile(
    r": |^manifest |^scene names must be unique|^a key appears twice|^asset paths total"
    r"|^… and \d+ more problems"
)


def assert_verdict(body: bytes) -> Manifest | None:
    """The property: a manifest, or specific reasons; the rejection readers never raise."""
    parsed: Manifest | None = None
    rejection: ManifestError | None = None
    try:
        parsed = parse_manifest(body)
    except ManifestError as exc:
        rejection = exc
    if rejection is not None:
        assert rejection.errors, "a rejection must say why"
        assert len(rejection.errors) <= MAX_REPORTED_ERRORS + 1
        for reason in rejection.errors:
            assert reason.strip(), rejection.errors
            assert SPECIFIC.search(reason), reason
            assert len(reason.encode("utf-8")) < 2000, reason  # storable, and not a dump
        for where, path in rejection.asset_paths:
            (where + path).encode("utf-8")  # what the asset check will send to S3
    if parsed is not None:
        parsed.model_dump_json().encode("utf-8")  # what the job will store and echo
        for scene in parsed.scenes:
            assert len(scene.scene_name.encode("utf-8")) <= MAX_SCENE_NAME_BYTES
    url = rejection_webhook_url(body)
    assert url is None or url.startswith(("http://", "https://"))
    assert listed_scene_count(body) >= 0
    return parsed


def run(strategy: st.SearchStrategy[bytes], examples: int, check: Callable[[bytes], Any]) -> int:
    """Run ``check`` over ``examples`` generated bodies; returns how many actually ran."""
    ran = []

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def each(body: bytes) -> None:
        ran.append(1)
        check(body)

    each()
    return len(ran)


# -- strategies --------------------------------------------------------------------------
#
# Manifests are built by plain functions from a ``random.Random`` that Hypothesis seeds
# (``st.randoms(use_true_random=True)``: one draw per example, so ~2,000 examples stay within
# the time budget); hostile JSON values, odd text, raw fragments and random bytes are drawn
# by Hypothesis strategies directly.

NAME_POOL = [
    "scene_001",
    "第一场",
    "intro (take 2)",
    "é-x",
    "Scene 10",
    "🎬 end",
    "a" * 120,
    "字" * 66,
]
ASSET_POOL = [
    "inputs/ep1/images/scene_001_chinese.png",
    "inputs/ep1/audio/scene_001_chinese.mp3",
    "s3://other-bucket/audio/第一场.mp3",
    "inputs/a b/c..d/e.srt",
    "x",
    "inputs/" + "k" * 1000,
]
KEY_POOL = ["request_id", "attempt", "字幕", "", "a.b", "x" * 60]
OPTIONS: dict[str, Callable[[random.Random], Any]] = {
    "version": lambda rng: 1,
    "language": lambda rng: rng.choice(["chinese", "english"]),
    "enable_zoom": lambda rng: rng.random() < 0.5,
    "is_portrait": lambda rng: rng.random() < 0.5,
    "watermark_path": lambda rng: rng.choice([*ASSET_POOL, None]),
    "background_box": lambda rng: rng.random() < 0.5,
    "background_opacity": lambda rng: rng.choice([0.0, 1.0, rng.random()]),
    "scenes_per_batch": lambda rng: rng.randint(1, 1000),
    "max_parallel_tasks": lambda rng: rng.randint(1, 100),
    "min_scenes_per_batch": lambda rng: rng.randint(1, 1000),
    "config_priority": lambda rng: rng.randint(1, 5),
    "spot": lambda rng: rng.random() < 0.5,
    "webhook_url": lambda rng: rng.choice(["https://h.example.com/cb", "http://127.0.0.1:8/h"]),
    "saving_dir": lambda rng: rng.choice(["./videos", "C:\\out", "输出/第一集", "", None]),
    "metadata": lambda rng: {
        rng.choice(KEY_POOL): rng.choice([rng.randint(-(10**18), 10**18), *NAME_POOL, None])
        for _ in range(rng.randint(0, 4))
    },
}
SCENE_FIELDS = ["scene_name", "image_path", "audio_path", "subtitle_path", "effect"]
EFFECTS = ["zoom_in", "zoom_out", "pan_left", "pan_right", "none"]


def random_document(rng: random.Random) -> dict[str, Any]:
    """A valid manifest: one to four scenes and a random subset of the options."""
    scenes = []
    for name in rng.sample(NAME_POOL, rng.randint(1, 4)):
        scene = {"scene_name": name, "image_path": rng.choice(ASSET_POOL)}
        scene["audio_path"] = rng.choice(ASSET_POOL)
        if rng.random() < 0.5:
            scene["subtitle_path"] = rng.choice(ASSET_POOL)
        if rng.random() < 0.5:
            scene["effect"] = rng.choice(EFFECTS)
        scenes.append(scene)
    options = {field: make(rng) for field, make in OPTIONS.items() if rng.random() < 0.5}
    return {"scenes": scenes, **options}


def serialize(document: Any, rng: random.Random) -> bytes:
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes broken UTF-8


def raw_fragment(rng: random.Random) -> str:
    """JSON text that json.dumps would not write: deep, huge, non-finite, surrogate, broken."""
    depth = rng.choice([1, 31, 32, 33, 200, 257, rng.randint(1, 20_000)])
    return rng.choice(
        [
            "[" * depth + "]" * depth,
            '{"a":' * depth + "1" + "}" * depth,
            "-" * rng.randint(0, 1) + "7" * rng.choice([20, 21, 4300, 4301, rng.randint(1, 6000)]),
            rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "-0", "1E-400"]),
            rng.choice(['"\\ud800"', '"x\\udfff"', '"\\udc00\\ud800"', '"\\u0000"', '"\\ud83c"']),
            rng.choice(['{"a": 1, "a": 2}', '{"\\ud800": 1}', "[1,]", "{", '"unterminated']),
        ]
    )


def odd_text(rng: random.Random) -> str:
    """Any code points, surrogates and controls included, or an over-long string."""
    if rng.random() < 0.2:
        return rng.choice("x字🎬") * rng.choice([121, 201, 1025, 2049, 5000])
    return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 12)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type (NaN and infinities included), nested a little."""
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False, 0, 1, -1])
    if kind == 1:
        return rng.randint(-(10**30), 10**30) // 10 ** rng.randint(0, 30)
    if kind == 2:
        return rng.choice([0.5, -0.0, 1e308, 5e-324, math.nan, math.inf, rng.random() * 1e6])
    if kind == 3:
        return odd_text(rng)
    if kind in (4, 5):
        return rng.choice(NAME_POOL + ASSET_POOL + KEY_POOL)
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {odd_text(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def mutated_body(rng: random.Random) -> bytes:
    """A valid manifest with one to four fields replaced, removed, multiplied or added."""
    document = random_document(rng)
    raws: list[str] = []
    for _ in range(rng.randint(1, 4)):
        scenes = document.get("scenes")
        if rng.random() < 0.5 and isinstance(scenes, list) and scenes:
            target = rng.choice(scenes)
            field = rng.choice(SCENE_FIELDS) if rng.random() < 0.8 else odd_text(rng)
        else:
            target = document
            field = rng.choice([*OPTIONS, "scenes"]) if rng.random() < 0.8 else odd_text(rng)
        if not isinstance(target, dict):
            continue
        action = rng.choice(["value", "value", "raw", "delete", "many"])
        if action == "delete":
            target.pop(field, None)
        elif action == "raw":
            raws.append(raw_fragment(rng))
            target[field] = f"\x00raw{len(raws) - 1}\x00"
        elif action == "many":  # a long list: counts, duplicates and the reasons' cap
            count = rng.choice([0, 2, 51, 300, 10_001])
            small = [1, "x", {}, {"scene_name": "s", "image_path": "i", "audio_path": "a"}]
            value = random_value(rng) if count <= 300 else rng.choice(small)
            target[field] = [value] * count
        else:
            target[field] = random_value(rng)
    text = json.dumps(document, ensure_ascii=True)
    for index, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{index}\\u0000"', raw)
    return text.encode("utf-8")


def broken_body(rng: random.Random) -> bytes:
    """A valid manifest's bytes truncated, flipped, spliced or re-encoded."""
    body = serialize(random_document(rng), rng)
    at = rng.randint(0, len(body) - 1)
    return rng.choice(
        [
            body[:at],
            body[:at] + bytes([body[at] ^ rng.randint(1, 255)]) + body[at + 1 :],
            body[:at] + rng.randbytes(rng.randint(1, 8)) + body[at:],
            b"\xef\xbb\xbf" + body,
            body.decode().encode("utf-16"),
            body.replace(b'"scene_name": "', b'"scene_name": "\xed\xa0\x80', 1),
        ]
    )


SEEDS = st.randoms(use_true_random=True)
ODD_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | ODD_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ODD_TEXT, children, max_size=4)
    ),
    max_leaves=10,
)
HOSTILE = st.one_of(
    st.binary(max_size=2_000),
    ODD_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    JSON_VALUE.map(lambda value: json.dumps(value).encode()),
    SEEDS.map(lambda rng: raw_fragment(rng).encode()),
    SEEDS.map(
        lambda rng: (
            f'{{"scenes": {raw_fragment(rng)}, "webhook_url": "https://h.example/"}}'.encode()
        )
    ),
    SEEDS.map(broken_body),
)


# -- the suite ---------------------------------------------------------------------------


def test_every_generated_valid_manifest_is_accepted():
    def accepted(body: bytes) -> None:
        assert assert_verdict(body) is not None, parse_manifest(body)

    valid = SEEDS.map(lambda rng: serialize(random_document(rng), rng))

    assert run(valid, VALID_EXAMPLES, accepted) >= VALID_EXAMPLES


def test_valid_manifests_mutated_field_by_field_end_in_a_verdict():
    assert run(SEEDS.map(mutated_body), MUTATED_EXAMPLES, assert_verdict) >= MUTATED_EXAMPLES


def test_hostile_json_and_bytes_end_in_a_verdict():
    assert run(HOSTILE, HOSTILE_EXAMPLES, assert_verdict) >= HOSTILE_EXAMPLES
