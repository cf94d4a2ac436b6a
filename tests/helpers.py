"""Small pieces several test files share (pytest puts tests/ on the path)."""

import importlib.util
from pathlib import Path

import keras

ROOT = Path(__file__).resolve().parents[1]


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C right after the checkpoint of step ``at`` is written."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) == self.at:
            raise KeyboardInterrupt


def load_script(name):
    """``scripts/<name>.py`` as a module (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
