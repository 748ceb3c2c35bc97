"""The conversion network: same-sentence pairs, their alignment, and a generator that also
reads the clip it converts."""
import numpy as np
import torch

from emodiff.data import EMOTIONS, index_corpora, speech_mels
from emodiff.diffusion import guided_prediction, mel_seed
from emodiff.diffusion.envelope import ENVELOPE, EnvelopeLock, dct_matrix
from emodiff.diffusion.pairs import PairBatcher, align, sentence_partners, with_source_input
from emodiff.mel import mel_of

from .conftest import EMODB_CLIP, MEL, flat_normalizer


def test_alignment_recovers_a_known_time_warp():
    source = mel_of(EMODB_CLIP, MEL).numpy()
    # The target says the same thing, its first half slowed to half speed: each frame twice.
    half = source.shape[1] // 2
    known = np.concatenate([np.repeat(np.arange(half), 2), np.arange(half, source.shape[1])])
    index = align(source, source[:, known])
    assert len(index) == len(known) and np.all(np.diff(index) >= 0)
    assert np.mean(np.abs(index - known)) < 1.0


def test_partners_are_the_same_speaker_saying_the_same_sentence(data_root):
    records = index_corpora(data_root, EMOTIONS)
    partners = sentence_partners(records)
    pairs = [(records[i], records[j]) for i, p in enumerate(partners) for j in p]
    assert pairs and all(a.speaker == b.speaker and a.text == b.text and a.path != b.path for a, b in pairs)
    assert any(a.emotion != b.emotion for a, b in pairs) and any(a.emotion == b.emotion for a, b in pairs)


def test_pair_batches_hold_a_target_its_aligned_source_and_repeat_by_step(data_root, tmp_path):
    records = [r for r in index_corpora(data_root, EMOTIONS) if r.speaker == "emodb_03"]
    mels = speech_mels(records, MEL, tmp_path)
    batcher = PairBatcher(records, mels, flat_normalizer(), 32, seed=0, null_emotion=len(EMOTIONS))
    x0, emotion, vectors, ref, mask, drop_style, gen, source = batcher(list(range(4)), step=3)
    assert x0.shape == source.shape == ref.shape == (4, MEL.n_mels, 32) and vectors is None
    torch.testing.assert_close(batcher(list(range(4)), step=3)[-1], source)
    # An aligned source resembles its target more than another clip's crop does.
    same = np.mean([np.corrcoef(x0[k].flatten(), source[k].flatten())[0, 1] for k in range(4)])
    other = np.mean([np.corrcoef(x0[k].flatten(), source[(k + 1) % 4].flatten())[0, 1] for k in range(4)])
    assert same > other


def test_a_generator_given_a_source_input_starts_as_the_generator(tiny_pipeline):
    pipe = tiny_pipeline()
    converter = with_source_input(pipe.unet)
    assert converter.config.source_channels == MEL.n_mels
    x, t, e = torch.randn(2, MEL.n_mels, 16), torch.tensor(500), torch.tensor([1, 2])
    with torch.no_grad():
        expected = guided_prediction(pipe.unet, x, t, e, None, 2.0)
        torch.testing.assert_close(guided_prediction(converter, x, t, e, None, 2.0, torch.randn_like(x)), expected)


def test_enhancing_with_a_conversion_network_reads_the_source(tiny_pipeline):
    pipe = tiny_pipeline()
    pipe.unet = with_source_input(pipe.unet)
    torch.nn.init.normal_(pipe.unet.conv_out.weight, std=0.1)
    mel = torch.full((MEL.n_mels, 24), -5.0)
    mel[:, 8:16] = 0.0

    def enhanced():
        return pipe.enhance(mel, "sad", strength=1.0, steps=3, generator=mel_seed(0), vocode=False).mel
    blind = enhanced()
    torch.nn.init.normal_(pipe.unet.source_in.weight)  # as if trained: the source matters
    assert blind.shape == mel.shape and not torch.allclose(enhanced(), blind)


def test_the_dct_matrix_is_orthonormal_and_scipys():
    import scipy.fft

    d = dct_matrix(MEL.n_mels)
    torch.testing.assert_close(d @ d.T, torch.eye(MEL.n_mels), atol=1e-5, rtol=0)
    x = np.random.default_rng(0).standard_normal((MEL.n_mels, 5))
    np.testing.assert_allclose(d.double().numpy() @ x, scipy.fft.dct(x, type=2, norm="ortho", axis=0), atol=1e-5)


def test_the_lock_holds_the_envelope_and_the_levels_course_and_frees_the_rest():
    source, other = mel_of(EMODB_CLIP, MEL)[None], torch.randn(1, MEL.n_mels, 40)
    source = source[..., :40]
    d, (lo, hi) = dct_matrix(MEL.n_mels), ENVELOPE
    c_locked, c_source, c_other = d @ EnvelopeLock(source)(other), d @ source, d @ other
    torch.testing.assert_close(c_locked[:, lo:hi], c_source[:, lo:hi], atol=1e-4, rtol=0)
    course = lambda c: c[:, 0] - c[:, 0].mean(-1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(course(c_locked), course(c_source), atol=1e-4, rtol=0)
    torch.testing.assert_close(c_locked[:, 0].mean(), c_other[:, 0].mean(), atol=1e-4, rtol=0)  # the mean level free
    free = [k for k in range(1, MEL.n_mels) if not lo <= k < hi]  # tilt and harmonics free
    torch.testing.assert_close(c_locked[:, free], c_other[:, free], atol=1e-4, rtol=0)


def test_enhancing_from_noise_with_the_lock_keeps_the_sources_envelope(tiny_pipeline):
    pipe = tiny_pipeline()
    torch.nn.init.normal_(pipe.unet.conv_out.weight, std=0.1)  # as if trained: it predicts something
    source = mel_of(EMODB_CLIP, MEL)[:, :48]
    d, (lo, hi) = dct_matrix(MEL.n_mels), ENVELOPE

    def envelope_error(keep):
        out = pipe.enhance(source, "angry", strength=1.0, steps=4, generator=mel_seed(0), vocode=False,
                           keep_envelope=keep).mel
        return ((d @ out)[lo:hi] - (d @ source)[lo:hi]).pow(2).mean().sqrt().item()
    assert envelope_error(True) < 0.1 * envelope_error(False)
