"""Activation maximisation: rising objectives, dead maps, determinism, and batch = one run per filter."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import course_lib as cl

CONV_LAYERS = ["conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4"]


def lecture_loop(model, layer, filters, steps, step_size, seed):
    """The lecture's Task-1 code shape: one filter after the other, one eager GradientTape per step."""
    sub_model = keras.Model(model.inputs, model.get_layer(layer).output)
    images = []
    for f in filters:
        image = tf.Variable(np.random.default_rng([seed, f]).uniform(0, 1, (1, 28, 28, 1)).astype(np.float32))
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(sub_model(image, training=False)[..., f])
            grads = tape.gradient(loss, image)
            image.assign(tf.clip_by_value(image + step_size * grads / (tf.sqrt(tf.reduce_mean(grads**2)) + 1e-5), 0, 1))
        images.append(image.numpy()[0])
    return np.stack(images)


@pytest.mark.parametrize("layer", CONV_LAYERS)
def test_objective_rises_for_every_live_filter(mnist_model, layer):
    result = cl.activation_maximization(mnist_model, layer, steps=12, step_size=0.05)
    n_maps = mnist_model.get_layer(layer).filters
    assert result.images.shape == (n_maps, 28, 28, 1) and result.images.dtype == np.float32
    assert result.history.shape == (n_maps, 12) and result.dead.shape == (n_maps,)
    np.testing.assert_array_equal(result.filters, np.arange(n_maps))
    live = ~result.dead
    assert live.sum() >= n_maps // 2
    assert np.all(result.history[live, -1] > result.history[live, 0]), result.history[live][:, [0, -1]]
    assert np.all(result.history[result.dead] == 0)
    assert np.all(np.isfinite(result.images)) and result.images.min() >= 0 and result.images.max() <= 1


def test_batch_equals_the_lecture_loop_one_filter_at_a_time(mnist_model):
    filters = [0, 5, 11]
    batched = cl.activation_maximization(mnist_model, "conv2d_3", filters, steps=5, step_size=0.1, seed=3)
    np.testing.assert_allclose(
        batched.images, lecture_loop(mnist_model, "conv2d_3", filters, steps=5, step_size=0.1, seed=3), atol=1e-4
    )
    for k, f in enumerate(filters):
        alone = cl.activation_maximization(mnist_model, "conv2d_3", f, steps=5, step_size=0.1, seed=3)
        np.testing.assert_allclose(batched.images[k : k + 1], alone.images, atol=1e-4)
        np.testing.assert_allclose(batched.history[k : k + 1], alone.history, rtol=1e-4, atol=1e-6)


def test_same_seed_same_images_other_seed_other_images(mnist_model):
    options = dict(steps=4, jitter=1, blur=0.5, l2=0.1, tv=0.1)
    first = cl.activation_maximization(mnist_model, "conv2d_2", [1, 2], seed=7, **options)
    again = cl.activation_maximization(mnist_model, "conv2d_2", [1, 2], seed=7, **options)
    other = cl.activation_maximization(mnist_model, "conv2d_2", [1, 2], seed=8, **options)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.history, again.history)
    assert not np.allclose(first.images, other.images)


def test_weights_are_unchanged(mnist_model):
    before = [w.copy() for w in mnist_model.get_weights()]
    cl.activation_maximization(mnist_model, "conv2d_4", [0, 1], steps=3, l2=0.1)
    after = mnist_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("objective", ["channel", "neuron", "layer"])
def test_history_is_the_objective_of_the_current_image(mnist_model, objective):
    # history[:, t] is h of the image before step t: so the (k+1)-step run's last entry is h of the k-step images
    filters = None if objective == "layer" else [3, 9]
    short = cl.activation_maximization(mnist_model, "conv2d_3", filters, objective=objective, steps=3)
    longer = cl.activation_maximization(mnist_model, "conv2d_3", filters, objective=objective, steps=4)
    np.testing.assert_allclose(longer.history[:, :3], short.history, rtol=1e-5)
    a = cl.activations(mnist_model, short.images, "conv2d_3")["conv2d_3"].astype(np.float64)  # (F, 14, 14, 32)
    if objective == "channel":
        expected = a[np.arange(2), :, :, [3, 9]].mean(axis=(1, 2))
    elif objective == "neuron":
        expected = a[np.arange(2), 7, 7, [3, 9]]  # the centre unit of the 14×14 map
    else:
        expected = (a**2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(longer.history[:, 3], expected, rtol=1e-4)


def test_layer_objective_gives_one_image_and_neuron_can_be_chosen(mnist_model):
    dream = cl.activation_maximization(mnist_model, "conv2d_2", objective="layer", steps=3)
    assert dream.images.shape == (1, 28, 28, 1) and dream.history.shape == (1, 3)
    corner = cl.activation_maximization(mnist_model, "conv2d_1", [4], objective="neuron", neuron=(0, 0), steps=6)
    # a first-layer unit at (0, 0) sees only pixels (0..1, 0..1): the gradient never touches the rest
    start = np.random.default_rng([0, 4]).uniform(0, 1, (28, 28, 1)).astype(np.float32)
    changed = np.argwhere(corner.images[0, ..., 0] != start[..., 0])
    assert changed.size == 0 or changed.max() <= 1


def test_unpacks_as_images_and_history(mnist_model):
    images, history = cl.activation_maximization(mnist_model, "conv2d_1", [0], steps=2)
    assert images.shape == (1, 28, 28, 1) and history.shape == (1, 2)


def test_dead_maps_are_reported_not_nan():
    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")]
    )
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., 1], bias[1] = 0.0, -1.0  # map 1 is zero for every input
    model.get_layer("conv").set_weights([kernel, bias])
    result = cl.activation_maximization(model, "conv", steps=5)
    np.testing.assert_array_equal(result.dead, [False, True, False])
    assert np.all(np.isfinite(result.images)) and np.all(np.isfinite(result.history))
    start = np.random.default_rng([0, 1]).uniform(0, 1, (8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(result.images[1], start)  # zero gradient: the noise is left as it was


def test_pattern_grid_shows_a_dead_pattern_as_the_noise_it_still_is():
    """The figure shows what the optimisation returned (the untouched noise), titled dead, not a black tile."""
    import matplotlib

    matplotlib.use("Agg")
    from course_lib import plotting

    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (3, 8, 8, 1)).astype(np.float32)
    fig = plotting.pattern_grid(images, dead=[False, True, False], columns=3)
    shown = [ax.get_images()[0].get_array() for ax in fig.axes[:3]]
    for image, drawn in zip(images, shown, strict=True):
        np.testing.assert_array_equal(np.asarray(drawn), image[..., 0])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1 dead", "2"]
    matplotlib.pyplot.close(fig)


def test_regularisers_keep_images_valid(mnist_model):
    result = cl.activation_maximization(
        mnist_model, "conv2d_2", [0, 1], steps=5, l2=0.5, tv=0.5, blur=0.7, jitter=2, value_range=(0.0, 1.0)
    )
    assert np.all(np.isfinite(result.images)) and result.images.min() >= 0 and result.images.max() <= 1
    spins = cl.activation_maximization(mnist_model, "conv2d_1", [0], steps=3, value_range=(-1.0, 1.0))
    assert spins.images.min() >= -1 and spins.images.max() <= 1 and spins.images.min() < 0


def test_progress_bar_option(mnist_model):
    result = cl.activation_maximization(mnist_model, "conv2d_1", [0], steps=2, progress=True)
    assert result.history.shape == (1, 2)


def test_bad_input(mnist_model):
    with pytest.raises(ValueError, match="valid layer names"):
        cl.activation_maximization(mnist_model, "conv2d_5", steps=1)
    with pytest.raises(ValueError, match="out of range"):
        cl.activation_maximization(mnist_model, "conv2d_1", [3, 16], steps=1)
    with pytest.raises(ValueError, match="conv layer"):
        cl.activation_maximization(mnist_model, "logits", [0], steps=1)
    with pytest.raises(ValueError, match="unknown objective"):
        cl.activation_maximization(mnist_model, "conv2d_1", objective="class", steps=1)
    with pytest.raises(ValueError, match="filters=None"):
        cl.activation_maximization(mnist_model, "conv2d_1", [0], objective="layer", steps=1)
    with pytest.raises(ValueError, match="steps"):
        cl.activation_maximization(mnist_model, "conv2d_1", steps=0)
    with pytest.raises(ValueError, match="neuron row"):
        cl.activation_maximization(mnist_model, "conv2d_3", [0], objective="neuron", neuron=(14, 0), steps=1)
    with pytest.raises(ValueError, match="seed"):
        cl.activation_maximization(mnist_model, "conv2d_1", steps=1, seed=-1)
    with pytest.raises(ValueError, match="empty"):
        cl.activation_maximization(mnist_model, "conv2d_1", [], steps=1)


def test_repeated_calls_with_new_slider_values_reuse_one_compiled_step(mnist_model):
    # a widget calls activation_maximization on every slider move: the numbers it moves (penalty weight,
    # step size, seed, filters) must not retrace, and the cached step must give what a fresh one gives
    from course_lib._cache import trace_counts

    model, fresh = keras.models.clone_model(mnist_model), keras.models.clone_model(mnist_model)
    model.set_weights(mnist_model.get_weights())
    fresh.set_weights(mnist_model.get_weights())
    settings = ((1.0, 0.05, 0, [0, 1], 0.5), (30.0, 0.1, 3, [2, 5], 1.0), (5.0, 0.2, 1, [7, 3], 1.7))
    for l2, step_size, seed, filters, blur in settings:
        result = cl.activation_maximization(
            model, "conv2d_2", filters, steps=3, step_size=step_size, seed=seed, l2=l2, blur=blur
        )
    steps = [count for key, count in trace_counts(model).items() if key[:2] == ("maximization_step", "conv2d_2")]
    assert steps == [1]
    again = cl.activation_maximization(fresh, "conv2d_2", [7, 3], steps=3, step_size=0.2, seed=1, l2=5.0, blur=1.7)
    np.testing.assert_allclose(result.images, again.images, atol=1e-6)
    np.testing.assert_allclose(result.history, again.history, rtol=1e-5)
