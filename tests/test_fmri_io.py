"""fMRI data in: transcript and array readers on hand-made files, and every bad input
(mismatched TR counts, affine/shape mismatches, NaN voxels, empty masks, runs without
transcripts) giving a ConfigError that names the run and the problem."""

from __future__ import annotations

import hashlib
import json

import nibabel as nib
import numpy as np
import pytest

from sasc.errors import ConfigError, SascError
from sasc.fmri import (
    Dataset, EncodingConfig, FeatureSettings, Run, fit_encoding, load_bids, load_mask, make_transcript, read_array,
    read_transcript, run_responses,
)

AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])


class HashFeatures:
    """A tiny deterministic stand-in feature model: words -> hashed 8-d vectors (no encoder)."""

    dim = 8
    identity = "hash-features"

    def spec(self):
        return {"kind": "hash"}

    def _vec(self, w):
        h = hashlib.sha256(w.lower().encode()).digest()
        return np.frombuffer(h[: self.dim * 4], dtype=np.uint32).astype(np.float32) / 2**32 - 0.5

    def word_features(self, words):
        return np.stack([self._vec(w) for w in words]) if words else np.zeros((0, self.dim), np.float32)


def write_tsv(path, rows, header="word\tonset\toffset"):
    path.write_text(header + "\n" + "\n".join("\t".join(map(str, r)) for r in rows) + "\n", encoding="utf-8")
    return path


def test_tsv_with_offset_and_with_duration(tmp_path):
    a = read_transcript(write_tsv(tmp_path / "a.tsv", [("Hello,", 0.5, 0.9), ("world!", 1.0, 1.4), ("--", 1.5, 1.6)]))
    assert a.words == ["Hello", "world"]  # punctuation stripped, "--" dropped with its timing
    np.testing.assert_allclose(a.onsets, [0.5, 1.0])
    np.testing.assert_allclose(a.times, [0.7, 1.2])
    b = read_transcript(write_tsv(tmp_path / "b.tsv", [(0.5, 0.4, "don't"), (1.0, 0.5, "stop")],
                                  header="onset\tduration\tword"))
    assert b.words == ["don't", "stop"] and b.end_s == pytest.approx(1.5)


def test_tsv_errors_name_the_file_and_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"bad\.tsv.*expected a word column"):
        read_transcript(write_tsv(tmp_path / "bad.tsv", [("x", 1)], header="token\tstart"))
    with pytest.raises(ConfigError, match="ends .* before it starts"):
        read_transcript(write_tsv(tmp_path / "rev.tsv", [("cat", 2.0, 1.0)]))
    with pytest.raises(ConfigError, match="onsets go back in time"):
        read_transcript(write_tsv(tmp_path / "order.tsv", [("a", 2.0, 2.1), ("b", 1.0, 1.1)]))
    with pytest.raises(ConfigError, match="has no words"):
        read_transcript(write_tsv(tmp_path / "empty.tsv", [("...", 0, 1)]))
    with pytest.raises(ConfigError, match="unsupported type"):
        read_transcript((tmp_path / "t.csv").write_text("x") and tmp_path / "t.csv")


LONG_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 3.5
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "phone"
        xmin = 0
        xmax = 3.5
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 3.5
            text = "AH"
    item [2]:
        class = "IntervalTier"
        name = "word"
        xmin = 0
        xmax = 3.5
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = ""
        intervals [2]:
            xmin = 0.5
            xmax = 1.25
            text = "said ""hi"""
        intervals [3]:
            xmin = 1.25
            xmax = 2
            text = "sp"
        intervals [4]:
            xmin = 2
            xmax = 3.5
            text = "2.5e1"
'''

SHORT_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2
<exists>
1
"IntervalTier"
"words"
0
2
3
0
0.7
"pizza"
0.7
1.1
"{LG}"
1.1
2
"night"
'''


def test_textgrid_long_and_short_formats(tmp_path):
    long = read_transcript((tmp_path / "l.TextGrid").write_text(LONG_TG) and tmp_path / "l.TextGrid")
    assert long.words == ["said hi", "2.5e1"]  # the 'word' tier, not 'phone'; silence dropped
    np.testing.assert_allclose(long.onsets, [0.5, 2.0])
    np.testing.assert_allclose(long.offsets, [1.25, 3.5])
    short = read_transcript((tmp_path / "s.TextGrid").write_text(SHORT_TG) and tmp_path / "s.TextGrid")
    assert short.words == ["pizza", "night"]
    np.testing.assert_allclose(short.onsets, [0.0, 1.1])
    (tmp_path / "u16.TextGrid").write_bytes(SHORT_TG.encode("utf-16"))
    assert read_transcript(tmp_path / "u16.TextGrid").words == ["pizza", "night"]
    (tmp_path / "junk.TextGrid").write_text("not a textgrid")
    with pytest.raises(ConfigError, match="not a readable Praat TextGrid"):
        read_transcript(tmp_path / "junk.TextGrid")


def small_mask(shape=(4, 5, 3)):
    m = np.zeros(shape, np.uint8)
    m[1:3, 1:4, 1] = 1  # 6 voxels
    return nib.Nifti1Image(m, AFFINE)


def bold_image(n_trs=20, shape=(4, 5, 3), seed=0, affine=AFFINE):
    data = np.random.default_rng(seed).standard_normal(shape + (n_trs,)).astype(np.float32)
    return nib.Nifti1Image(data, affine)


def transcript(n=10, step=0.5):
    return make_transcript([f"w{i}" for i in range(n)], np.arange(n) * step, np.arange(n) * step + 0.4)


def test_arrays_npy_h5_and_mask_count(tmp_path):
    import h5py

    arr = np.arange(60, dtype=np.float32).reshape(10, 6)
    np.save(tmp_path / "r_bold.npy", arr)
    with h5py.File(tmp_path / "r_bold.hf5", "w") as f:
        f["data"] = arr
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"] = arr, arr
    np.testing.assert_array_equal(read_array(tmp_path / "r_bold.npy"), arr)
    np.testing.assert_array_equal(read_array(tmp_path / "r_bold.hf5"), arr)
    np.testing.assert_array_equal(read_array(tmp_path / "two.h5", "b"), arr)
    with pytest.raises(ConfigError, match="name the dataset"):
        read_array(tmp_path / "two.h5")
    got = run_responses(Run("story1", tmp_path / "r_bold.hf5", transcript(), 2.0), small_mask())
    assert got.dtype == np.float32 and got.shape == (10, 6)
    with pytest.raises(ConfigError, match=r"run 'story2': array has 5 voxel columns but the mask selects 6"):
        run_responses(Run("story2", arr[:, :5], transcript(), 2.0), small_mask())


def test_nifti_masking_values_and_masker(tmp_path):
    from nilearn.maskers import NiftiMasker

    img, mask = bold_image(), small_mask()
    nib.save(img, tmp_path / "b.nii.gz")
    got = run_responses(Run("r1", tmp_path / "b.nii.gz", transcript(), 2.0), mask)
    expected = np.asarray(img.dataobj)[np.asarray(mask.dataobj) > 0].T
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    masker = NiftiMasker(mask_img=mask, standardize=None).fit()
    np.testing.assert_allclose(run_responses(Run("r1", img, transcript(), 2.0), masker), expected, rtol=1e-5)


def test_shape_affine_nan_empty_and_3d_errors_name_the_run():
    mask = small_mask()
    with pytest.raises(ConfigError, match=r"run 'story3': BOLD volume shape \(4, 5, 4\) does not match the mask's \(4, 5, 3\)"):
        run_responses(Run("story3", bold_image(shape=(4, 5, 4)), transcript(), 2.0), mask)
    shifted = AFFINE.copy()
    shifted[0, 3] = 2.0
    with pytest.raises(ConfigError, match=r"run 'story4': BOLD affine differs from the mask's \(largest difference 2 mm\)"):
        run_responses(Run("story4", bold_image(affine=shifted), transcript(), 2.0), mask)
    data = np.asarray(bold_image().dataobj).copy()
    data[2, 3, 1, 7] = np.nan
    with pytest.raises(ConfigError, match=r"run 'story5': 1 in-mask voxel\(s\) contain NaN or inf \(first: column \d+, voxel \(i, j, k\) = \(2, 3, 1\)\)"):
        run_responses(Run("story5", nib.Nifti1Image(data, AFFINE), transcript(), 2.0), mask)
    with pytest.raises(ConfigError, match="mask image is empty: it selects no voxel"):
        load_mask(nib.Nifti1Image(np.zeros((4, 5, 3), np.uint8), AFFINE))
    with pytest.raises(ConfigError, match=r"run 'story6': BOLD image has shape \(4, 5, 3\); expected 4D"):
        run_responses(Run("story6", nib.Nifti1Image(np.zeros((4, 5, 3), np.float32), AFFINE), transcript(), 2.0), mask)
    with pytest.raises(SascError):  # every error is a sasc error a caller can catch
        run_responses(Run("story7", "/nonexistent_bold.nii.gz", transcript(), 2.0), mask)


def make_bids(tmp_path, n_runs=3, n_trs=20, tr=2.0, transcripts=True):
    func, anat = tmp_path / "sub-01" / "func", tmp_path / "sub-01" / "anat"
    func.mkdir(parents=True)
    anat.mkdir()
    nib.save(small_mask(), anat / "sub-01_mask.nii.gz")
    for r in range(n_runs):
        name = f"sub-01_task-s{r}"
        nib.save(bold_image(n_trs, seed=r), func / f"{name}_bold.nii.gz")
        (func / f"{name}_bold.json").write_text(json.dumps({"RepetitionTime": tr}))
        if transcripts:
            write_tsv(func / f"{name}_events.tsv", [(f"w{i}", 1.0 + i, 1.5 + i) for i in range(n_trs)],
                      header="word\tonset\toffset")
    return tmp_path


def test_load_bids_layout_tr_and_mask(tmp_path):
    ds = load_bids(make_bids(tmp_path))
    assert [r.name for r in ds.runs] == ["sub-01_task-s0", "sub-01_task-s1", "sub-01_task-s2"]
    assert ds.tr == 2.0 and int(np.asarray(ds.mask.dataobj).sum()) == 6
    assert ds.runs[0].transcript.words[:2] == ["w0", "w1"]
    assert run_responses(ds.runs[1], ds.mask).shape == (20, 6)


def test_run_without_transcript_is_named(tmp_path):
    make_bids(tmp_path, transcripts=False)
    with pytest.raises(ConfigError, match=r"run 'sub-01_task-s0' has no transcript: looked for sub-01_task-s0_events.tsv"):
        load_bids(tmp_path)


def test_runs_with_different_trs(tmp_path):
    make_bids(tmp_path)
    (tmp_path / "sub-01" / "func" / "sub-01_task-s1_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    with pytest.raises(ConfigError, match=r"runs have different TRs: .*sub-01_task-s1: 1.5 s"):
        load_bids(tmp_path)


def test_mismatched_tr_count_is_named_in_fit(tmp_path):
    make_bids(tmp_path, n_trs=20)
    ds = load_bids(tmp_path, tr=0.5)  # 20 TRs x 0.5 s = 10 s, but words go on to 20.5 s
    cfg = EncodingConfig(features=FeatureSettings(delays=(1, 2), trim_start=1, trim_end=1))
    with pytest.raises(ConfigError, match=r"run 'sub-01_task-s0': transcript ends at 20.5 s but the BOLD run has 20 TRs x 0.5 s = 10.0 s"):
        fit_encoding(ds, HashFeatures(), test_runs=1, config=cfg)


def test_voxel_count_and_trim_errors(tmp_path):
    runs = [Run("a", np.zeros((30, 4), np.float32) + np.arange(30)[:, None] % 3, transcript(), 2.0),
            Run("b", np.ones((30, 5), np.float32), transcript(), 2.0),
            Run("c", np.ones((30, 4), np.float32), transcript(), 2.0)]
    cfg = EncodingConfig(features=FeatureSettings(delays=(1,), trim_start=1, trim_end=1))
    with pytest.raises(ConfigError, match=r"run 'b' has 5 voxels but run 'a' has 4"):
        fit_encoding(Dataset(runs, None, 2.0), HashFeatures(), config=cfg)
    short = [Run("tiny", np.ones((6, 4), np.float32), transcript(4, 2.0), 2.0)]
    with pytest.raises(ConfigError, match=r"run 'tiny' has 6 TRs; trimming 5 \+ 5 leaves -4"):
        fit_encoding(Dataset(short, None, 2.0), HashFeatures())


def test_fit_on_arrays_recovers_a_planted_word_voxel():
    """Fast end to end with hashed features: a voxel driven by one feature is predicted on held-out runs."""
    from sasc.fmri.features import lanczos_downsample, tr_times

    rng = np.random.default_rng(0)
    feats = HashFeatures()
    runs = []
    for r in range(5):
        n = 300
        t = make_transcript([f"w{rng.integers(50)}" for _ in range(n)], np.arange(n) * 0.4 + 2, np.arange(n) * 0.4 + 2.3)
        n_trs = int((t.end_s + 10) // 2)
        drive = lanczos_downsample(feats.word_features(t.words)[:, :1], t.times, tr_times(n_trs, 2.0))[:, 0]
        y = rng.standard_normal((n_trs, 3)).astype(np.float32)
        y[2:, 0] += 3 * (drive[:-2] - drive.mean()) / drive.std()  # voxel 0 follows feature 0 at a 2-TR delay
        runs.append(Run(f"run{r}", y, t, 2.0))
    model = fit_encoding(Dataset(runs, None, 2.0), feats, test_runs=1,
                         config=EncodingConfig(features=FeatureSettings(trim_start=2, trim_end=2), n_folds=2))
    assert model.test_r[0] > 0.6 and abs(model.test_r[1]) < 0.35 and abs(model.test_r[2]) < 0.35
    w = model.summed_weights([0])[:, 0]
    assert np.argmax(np.abs(w)) == 0 and model.alphas.shape == (3,) and model.voxel_ijk is None
