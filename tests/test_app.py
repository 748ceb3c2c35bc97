import gradio as gr
import pytest

import app

from .conftest import EMODB_CLIP


def test_mel_handler_on_a_real_clip(data_root):
    fig, summary = app.show_mel(str(EMODB_CLIP))
    assert fig.axes[0].get_xlabel() == "time (s)"
    assert "16000 Hz" in summary and "80 mel bands" in summary


def test_bad_uploads_become_gradio_errors(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"")
    with pytest.raises(gr.Error, match="empty"):
        app.show_mel(str(bad))
    with pytest.raises(gr.Error, match="upload or record"):
        app.show_mel(None)


def test_page_builds():
    assert isinstance(app.build_demo(), gr.Blocks)
