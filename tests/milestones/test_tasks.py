"""The harness's data pipelines (milestones.tasks): on tiny copies in the original formats (the
default set), and on the real data sets (marked slow: `challenge data fetch` or `import` provides them)."""

import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

from milestones.tasks import TASKS, DataUnavailable, prepare_task
from milestones.tasks import sources
from grader.judge.tasks import windows
from grader.judge.tasks import mask_for_evaluation
from tests.data_sets import FIXTURE_DATA, need_real_data

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("task-cache")


@pytest.fixture(scope="module")
def prepared(request, cache_dir):
    """Each task prepared once per module from the real data (about a second each)."""
    folder = need_real_data()
    return {name: prepare_task(name, data_dir=folder, cache_dir=cache_dir) for name in TASKS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Each corpus task prepared from the tiny copies under tests/fixtures/data."""
    cache = tmp_path_factory.mktemp("tiny-cache")
    return {name: prepare_task(name, data_dir=FIXTURE_DATA, cache_dir=cache)
            for name, task in TASKS.items() if task.corpus}


# -- the tiny copies: the pipeline's rules, anywhere ----------------------------------------------


def test_tiny_copies_load_split_and_stay_apart(tiny):
    rt = tiny["rt_polarity"]
    assert {s: len(rt.inputs[s]) for s in ("train", "validation", "test")} == {"train": 64, "validation": 8, "test": 8}
    for split in ("train", "validation", "test"):
        assert rt.labels[split].float().mean() == 0.5  # stratified
    assert rt.spec["n_classes"] == 2 and rt.source == f"local:{FIXTURE_DATA.resolve()}"
    mlm = tiny["ag_news_mlm"]
    sizes = {s: len(mlm.inputs[s]) for s in ("train", "validation", "test")}
    assert sizes == {"train": 43, "validation": 5, "test": 16}  # the last 10% of train validates
    assert set(rt.to_worker_tensors()) == {"train.ids", "train.labels", "validation.ids", "validation.labels"}
    with pytest.raises(ValueError):
        rt.to_worker_tensors(["test"])
    assert set(tiny["ag_news_lm"].to_worker_tensors()) == {"train.tokens", "validation.tokens"}


def test_tiny_ag_news_text_is_cleaned_and_joined(tiny):
    text = tiny["ag_news_lm"].decode(tiny["ag_news_lm"].inputs["test"][:400])
    assert "It's the" in text and "#39;" not in text and "<b>" not in text and "\\" not in text


def test_same_data_same_fingerprint_other_data_other(tiny, tmp_path):
    again = prepare_task("rt_polarity", data_dir=FIXTURE_DATA, cache_dir=tmp_path)
    assert again.fingerprint == tiny["rt_polarity"].fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURE_DATA, copy)
    with open(copy / "rt-polarity" / "rt-polarity.pos", "a", encoding="utf-8") as f:
        f.write("one more sentence .\n")
    assert prepare_task("rt_polarity", data_dir=copy, cache_dir=tmp_path).fingerprint != again.fingerprint


def test_loaders_search_the_data_dir_then_the_cache_folder(tmp_path, monkeypatch, no_data):
    shutil.copytree(FIXTURE_DATA / "rt-polarity", no_data / "rt-polarity")
    assert sources.load_corpus("rt_polarity", data_dir=None).source == f"local:{no_data.resolve()}"
    with pytest.raises(DataUnavailable, match="challenge data fetch|ag_news"):
        sources.load_corpus("ag_news", data_dir=None)  # not in the cache, no hub
    elsewhere = tmp_path / "mine"
    shutil.copytree(FIXTURE_DATA, elsewhere)
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(elsewhere))
    assert sources.load_corpus("rt_polarity", data_dir=None).source == f"local:{elsewhere.resolve()}"  # searched first
    shutil.rmtree(elsewhere / "rt-polarity")
    assert sources.load_corpus("rt_polarity", data_dir=None).source == f"local:{no_data.resolve()}"  # then the cache
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataUnavailable, match="typo, which is not a folder"):
        sources.load_corpus("rt_polarity", data_dir=None)  # a wrong setting is named, never skipped


def test_a_malformed_file_is_named_with_its_line(tmp_path):
    shutil.copytree(FIXTURE_DATA, tmp_path / "data")
    train = tmp_path / "data" / "ag_news" / "train.csv"
    train.write_text('"Class Index","Title","Description"\n' + train.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataUnavailable, match=r"train.csv, line 1: class 'Class Index' is not 1-4 .*no header row"):
        prepare_task("ag_news_lm", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")


def test_the_hubs_rows_give_the_files_lines_back(monkeypatch):
    """The hub's rotten_tomatoes was cut 80/10/10 per class in file order: joining its splits restores the
    files, so fetched, imported and hub data are one corpus (one fingerprint)."""
    pos = sources.read_polarity_file(FIXTURE_DATA / "rt-polarity" / "rt-polarity.pos")
    neg = sources.read_polarity_file(FIXTURE_DATA / "rt-polarity" / "rt-polarity.neg")
    monkeypatch.setitem(sys.modules, "datasets", fake_hub_datasets(pos, neg))
    assert sources.download_original_rows(sources.RT_POLARITY) == (pos, neg)
    monkeypatch.setattr(sources, "hub_available", lambda source: True)
    monkeypatch.setattr(sources, "find_local", lambda source: None)
    from_hub = sources.load_corpus("rt_polarity", data_dir=None)
    from_files = sources.load_corpus("rt_polarity", data_dir=FIXTURE_DATA)
    assert from_hub.source.startswith("hub:") and from_hub.fingerprint == from_files.fingerprint


def fake_hub_datasets(pos: list[str], neg: list[str]) -> types.ModuleType:
    """A stand-in for `datasets` that serves rotten_tomatoes as the hub's builder cut it."""
    def cut(lines: list[str]) -> list[list[str]]:
        i1, i2 = int(len(lines) * 0.8 + 0.5), int(len(lines) * 0.9 + 0.5)
        return [lines[:i1], lines[i1:i2], lines[i2:]]

    splits = {}
    for name, p, n in zip(("train", "validation", "test"), cut(pos), cut(neg)):
        splits[name] = {"text": p + n, "label": [1] * len(p) + [0] * len(n)}
    module = types.ModuleType("datasets")
    module.load_dataset = lambda hub_id: splits
    return module


# -- the real data sets (slow set) -----------------------------------------------------------------


@pytest.mark.slow
def test_split_sizes(prepared):
    rt = prepared["rt_polarity"]
    assert {s: len(rt.inputs[s]) for s in ("train", "validation", "test")} == {
        "train": 8530, "validation": 1066, "test": 1066}  # the hub's sizes, from 5,331 + 5,331 lines
    for split in ("train", "validation", "test"):
        assert rt.labels[split].float().mean() == 0.5  # stratified
    mlm = prepared["ag_news_mlm"]
    assert {s: len(mlm.inputs[s]) for s in ("train", "validation", "test")} == {
        "train": 5940, "validation": 660, "test": 1000}
    lm = prepared["ag_news_lm"]
    assert all(lm.inputs[s].dim() == 1 for s in ("train", "validation", "test"))
    assert len(lm.inputs["train"]) > 1_000_000


@pytest.mark.slow
def test_no_sentence_in_two_splits(data_dir):
    for name in ("rt_polarity", "ag_news"):
        corpus = sources.load_corpus(name, data_dir=data_dir)
        seen = [set(corpus.splits[s].texts) for s in ("train", "validation", "test")]
        # rt-polarity repeats a handful of identical lines across its two files; allow that much
        assert len(seen[0] & seen[1]) + len(seen[0] & seen[2]) + len(seen[1] & seen[2]) <= 5


@pytest.mark.slow
def test_deterministic_in_a_fresh_process_without_importing_datasets(prepared, tmp_path, data_dir):
    """A new process with a new cache gets the same ids; the local path never imports `datasets`."""
    code = (
        "import sys, pathlib; from milestones.tasks import prepare_task\n"
        "for name in ('rt_polarity', 'ag_news_lm'):\n"
        "    t = prepare_task(name, data_dir=pathlib.Path(sys.argv[1]), cache_dir=pathlib.Path(sys.argv[2]))\n"
        "    print(t.fingerprint, int(t.inputs['train'].long().sum()), t.spec['vocab_size'])\n"
        "print('datasets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(data_dir), str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    for line, name in zip(out, ("rt_polarity", "ag_news_lm")):
        task = prepared[name]
        expected = [task.fingerprint, str(int(task.inputs["train"].long().sum())), str(task.spec["vocab_size"])]
        assert line.split() == expected
    assert out[-1] == "False"


@pytest.mark.slow
def test_tokenizer_is_cached_and_rebuilt_when_settings_change(prepared, cache_dir, data_dir, monkeypatch):
    files = sorted(p.name for p in cache_dir.glob("*.tokenizer.json"))
    assert len(files) == 3 and all(f.split("-")[0] in TASKS for f in files)
    again = prepare_task("rt_polarity", data_dir=data_dir, cache_dir=cache_dir)
    assert again.fingerprint == prepared["rt_polarity"].fingerprint
    assert len(list(cache_dir.glob("*.tokenizer.json"))) == 3  # reused, not rebuilt

    from dataclasses import replace

    definition = TASKS["rt_polarity"]
    fewer_words = replace(definition.settings, min_frequency=3)
    monkeypatch.setitem(TASKS, "rt_polarity", replace(definition, settings=fewer_words))
    changed = prepare_task("rt_polarity", data_dir=data_dir, cache_dir=cache_dir)
    assert changed.fingerprint != again.fingerprint
    assert changed.spec["vocab_size"] < again.spec["vocab_size"]
    assert len(list(cache_dir.glob("*.tokenizer.json"))) == 4


@pytest.mark.slow
def test_classifier_spec_and_rows(prepared):
    task = prepared["rt_polarity"]
    spec = task.spec
    assert spec["pad_id"] == 0 and spec["n_classes"] == 2 and spec["label_names"] == ["negative", "positive"]
    assert 5_000 < spec["vocab_size"] < 15_000
    ids = task.inputs["train"].long()
    assert ids.shape[1] == spec["max_len"] and bool((ids[:, 0] == spec["cls_id"]).all())
    assert int(ids.max()) < spec["vocab_size"]
    text = task.decode(ids[0])
    assert text.startswith("[CLS] ") and "[PAD]" not in text


@pytest.mark.slow
def test_bert_spec_rows_and_evaluation_mask(prepared):
    task = prepared["ag_news_mlm"]
    spec = task.spec
    assert spec["vocab_size"] == 2000 and spec["pad_id"] == 0
    assert set(spec["special_ids"]) == {spec[k] for k in ("pad_id", "unk_id", "cls_id", "sep_id", "mask_id")}
    ids = task.inputs["test"].long()
    assert bool((ids[:, 0] == spec["cls_id"]).all())
    assert int((ids == spec["sep_id"]).sum()) == len(ids)  # one [SEP] per article, truncated or not

    inputs, labels = mask_for_evaluation(ids, spec, seed=1)
    again, _ = mask_for_evaluation(ids, spec, seed=1)
    assert torch.equal(inputs, again)
    picked = labels != -100
    eligible = ~torch.isin(ids, torch.tensor(spec["special_ids"]))
    assert not (picked & ~eligible).any() and torch.equal(labels[picked], ids[picked])
    assert float(picked.sum() / eligible.sum()) == pytest.approx(0.15, abs=0.01)
    assert float((inputs[picked] == spec["mask_id"]).float().mean()) == pytest.approx(0.8, abs=0.02)
    assert torch.equal(inputs[~picked], ids[~picked])


@pytest.mark.slow
def test_gpt_spec_stream_and_windows(prepared):
    task = prepared["ag_news_lm"]
    spec = task.spec
    assert spec["pad_id"] == 0 and 70 <= spec["vocab_size"] <= 128  # characters
    stream = task.inputs["test"]
    assert not bool((stream == spec["pad_id"]).any())
    assert task.decode(stream[:60]).startswith(task.decode(stream[:10]))
    assert "\n" in task.decode(stream[:2000])  # articles are separated by newlines
    w = windows(stream, spec["block_size"], max_windows=5)
    assert w.shape == (5, spec["block_size"] + 1) and torch.equal(w[1, 0], w[0, -1])


@pytest.mark.slow
def test_worker_tensors_hold_no_test_labels(prepared):
    task = prepared["rt_polarity"]
    assert set(task.to_worker_tensors()) == {"train.ids", "train.labels", "validation.ids", "validation.labels"}
    assert set(task.to_worker_tensors(["test"], labels=False)) == {"test.ids"}
    with pytest.raises(ValueError):
        task.to_worker_tensors(["test"])
    assert set(prepared["ag_news_lm"].to_worker_tensors()) == {"train.tokens", "validation.tokens"}
    assert set(prepared["ag_news_mlm"].to_worker_tensors()) == {"train.ids", "validation.ids"}


# -- anywhere ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, p, n_train", [("modular_addition_59", 59, 1740), ("modular_addition_113", 113, 4469)])
def test_modular_addition_splits_answers_and_spec(name, p, n_train, tmp_path, monkeypatch):
    """Computed data: no corpus, no download, the same everywhere."""
    monkeypatch.delenv("CHALLENGE_DATA_DIR", raising=False)
    task = prepare_task(name, data_dir=None, cache_dir=tmp_path)
    splits = ("train", "validation", "test")
    rows = {s: task.inputs[s] for s in splits}
    assert all(r.shape[1] == 3 and r.dtype == torch.int64 and bool((r[:, 2] == p).all()) for r in rows.values())
    pairs = [{(int(x), int(y)) for x, y in rows[s][:, :2]} for s in splits]
    assert sum(map(len, pairs)) == p * p == sum(len(r) for r in rows.values())  # no pair twice within a split
    assert set().union(*pairs) == {(x, y) for x in range(p) for y in range(p)}  # disjoint and covering
    for s in splits:
        assert torch.equal(task.labels[s], (rows[s][:, 0] + rows[s][:, 1]) % p)
    assert len(rows["train"]) == n_train
    assert task.spec == {"task": name, "p": p, "vocab_size": p + 1, "eq_id": p, "seq_len": 3, "n_classes": p,
                         "n_train": n_train, "n_validation": len(rows["validation"]), "pad_id": -1}
    assert task.kind == "modular_addition" and len(task.label_names) == p
    assert set(task.to_worker_tensors()) == {"train.ids", "train.labels", "validation.ids", "validation.labels"}
    again = prepare_task(name, data_dir=None, cache_dir=tmp_path / "other")
    assert again.fingerprint == task.fingerprint and torch.equal(again.inputs["test"], rows["test"])


def test_ag_text_cleaning():
    # the '&' of every entity became a space in AG News
    assert sources.clean_ag_text("Finland #39;s champion, Jones #39; single") == "Finland's champion, Jones' single"
    assert sources.clean_ag_text("Back  #36;3\\bill, Wired  amp; Wireless") == "Back $3 bill, Wired & Wireless"
    assert sources.clean_ag_text('said  quot;yes quot; in &lt;b&gt;bold&lt;/b&gt;') == 'said "yes" in bold'
    assert sources.clean_ag_text("#151; a dash") == "— a dash"  # windows-1252 code points, as browsers do


def test_unknown_task_name():
    with pytest.raises(KeyError, match="known: rt_polarity"):
        prepare_task("imdb", data_dir=None, cache_dir=Path("/nonexistent"))


def test_local_folder_without_the_files_fails_fast_and_names_both_options(tmp_path):
    started = time.monotonic()
    with pytest.raises(DataUnavailable) as error:
        prepare_task("rt_polarity", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert time.monotonic() - started < 2
    message = str(error.value)
    assert "CHALLENGE_DATA_DIR" in message and "rt-polarity/rt-polarity.pos" in message and "internet" in message


def test_no_local_folder_and_offline_fails_fast(tmp_path, no_data):
    started = time.monotonic()
    with pytest.raises(DataUnavailable) as error:
        prepare_task("ag_news_lm", data_dir=None, cache_dir=tmp_path / "cache")
    assert time.monotonic() - started < 2
    message = str(error.value)
    assert "CHALLENGE_DATA_DIR: not set" in message and "internet" in message
    assert f"cache folder {no_data}: no ag_news/train.csv, ag_news/test.csv" in message


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch, no_data):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online as far as settings go; set, so that it is restored
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "https://10.255.255.1")  # a blackhole address: connecting hangs
    started = time.monotonic()
    with pytest.raises(DataUnavailable):
        prepare_task("rt_polarity", data_dir=None, cache_dir=tmp_path / "cache")
    assert time.monotonic() - started < 2
