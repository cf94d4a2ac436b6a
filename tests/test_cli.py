import json

import pytest

from dalle_edu import cli


def test_unknown_preset_is_a_one_line_error(capsys, tmp_path):
    assert cli.main(["notebooks", "--preset", "laptop", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dalle-edu: error: unknown preset 'laptop'")
    assert "\n" not in err and "Traceback" not in err


def test_no_notebooks_is_a_clear_error(capsys, tmp_path):
    assert cli.main(["notebooks", "--dir", str(tmp_path)]) == 2
    assert "no notebooks found" in capsys.readouterr().err


def test_runs_notebooks_and_saves_their_pictures(tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "import matplotlib.pyplot as plt\nimport os\nplt.plot([0, 1]); plt.title(os.environ['DALLE_EDU_PRESET'])\nplt.show()")]
    src = tmp_path / "nbs"
    src.mkdir()
    nbformat.write(nb, src / "01_tiny.ipynb")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    out = tmp_path / "out"
    assert cli.main(["notebooks", "--dir", str(src), "--out", str(out), "--preset", "smoke"]) == 0
    pictures = sorted((out / "01_tiny").glob("*.png"))
    assert len(pictures) == 1 and pictures[0].read_bytes()[:4] == b"\x89PNG"
    executed = json.loads((out / "01_tiny" / "01_tiny.ipynb").read_text())
    assert executed["cells"][0]["execution_count"] == 1


def test_failing_notebook_gives_exit_code_1(tmp_path, capsys):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    nbformat.write(nb, tmp_path / "01_bad.ipynb")
    assert cli.main(["notebooks", "--dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_strip_native_logs_keeps_real_stderr():
    import nbformat

    from dalle_edu.cli import strip_native_logs

    cell = nbformat.v4.new_code_cell("import tensorflow")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=(
            "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1795870626.076649    9384 port.cc:153] oneDNN custom operations are on.\n")),
        nbformat.v4.new_output("stream", name="stderr", text=(
            "E0000 00:00:1795869976.904892    3742 cuda_platform.cc:52] failed call to cuInit\n"
            "UserWarning: a real warning\n")),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 stays: stdout is the reader's\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    strip_native_logs(nb)
    texts = [(o["name"], o["text"]) for o in nb.cells[0].outputs]
    assert texts == [("stderr", "UserWarning: a real warning\n"),
                     ("stdout", "I0000 stays: stdout is the reader's\n")]


def test_unknown_model_is_a_one_line_error_listing_the_models(capsys, tmp_path):
    assert cli.main(["generate", "a red circle", "--model", "dalle-2", "-o", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dalle-edu: error: unknown model 'dalle-2'") and "'gan-labels'" in err
    assert "\n" not in err


def test_generate_picks_a_model_by_name(tmp_path, capsys):
    png = tmp_path / "g.png"
    assert cli.main(["generate", "a red circle", "--model", "gan-labels", "-n", "2", "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_the_command_hides_tensorflows_native_start_up_lines(tmp_path):
    """Run as users do (a subprocess, TF_CPP_MIN_LOG_LEVEL unset): stderr keeps only our line."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import sys; from dalle_edu import cli; sys.exit(cli.entry())"
    run = subprocess.run([sys.executable, "-c", code, "generate", "a purple circle",
                          "-o", str(tmp_path / "g.png")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "dalle-edu: error: unknown word 'purple' in prompt 'a purple circle'; the shapes world has "
        "no 'purple'; its colours are: red, green, blue, yellow, magenta, cyan, white, orange"]


# --- Chapters 9 and 10: training the mini-CLIP, reranking, the measures table ---------------------

def test_generate_with_rerank_writes_a_picture(tmp_path, capsys):
    png = tmp_path / "g.png"
    assert cli.main(["generate", "a red circle", "--model", "gan-labels", "-n", "2", "--rerank", "2",
                     "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert cli.main(["generate", "a red circle", "--rerank", "0", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "dalle-edu: error: --rerank must be at least 1, got 0"
    assert not (tmp_path / "x.png").exists()


def test_train_a_mini_clip(tmp_path, capsys):
    from dalle_edu.clip import FILES, MiniCLIP

    out = tmp_path / "clip"
    assert cli.main(["train", "--model", "clip", "--preset", "smoke", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert f"saved the mini-CLIP to {out}/" in capsys.readouterr().out
    loaded = MiniCLIP.load(out)
    assert loaded.config.width == 8 and loaded.encode_text(["a red circle"]).shape == (1, 64)
    assert cli.main(["train", "--model", "clip", "--preset", "smoke", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dalle-edu: error:") and "--resume" in err and "\n" not in err


def test_train_set_overrides_the_config_and_rejects_bad_keys(tmp_path, capsys):
    assert cli.config_overrides(["clip=None", "text_encoder=clip", "lr=2e-4", "ema=0"]) == {
        "clip": None, "text_encoder": "clip", "lr": 2e-4, "ema": 0}
    out = tmp_path / "t2i"
    tiny = ["n_train=64", "encoder_steps=10", "batch_size=8", "latent_dim=8", "width=8"]
    assert cli.main(["train", "--preset", "smoke", "--out", str(out), "--steps", "2",
                     "--set", *tiny, "lr=4e-4"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["width"], saved["lr"], saved["steps"], saved["batch_size"]) == (8, 4e-4, 2, 8)
    capsys.readouterr()
    for bad, says in (("widht=8", "unknown T2IConfig keys: widht"), ("width", "KEY=VALUE")):
        assert cli.main(["train", "--preset", "smoke", "--out", str(tmp_path / "x"),
                         "--set", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dalle-edu: error:") and says in err and "\n" not in err


def test_evaluate_prints_every_measure_beside_real_renders(capsys):
    assert cli.main(["evaluate", "--model", "gan-labels", "-n", "200"]) == 0
    out = capsys.readouterr().out
    second = out.split("Chapter 10's measures")[1].strip().splitlines()
    header = second[1].split()
    assert header == ["measure", "gan-labels", "real"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in second[2:]}
    assert {"fid", "r_precision", "clip_score", "geometry_test", "diversity_ratio"} <= set(rows)
    assert all(len(v) == 2 for v in rows.values())
    assert rows["geometry_test"][1] == 1.0 and rows["r_precision"][1] >= 0.95  # the real column
