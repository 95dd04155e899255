"""Native spellings in: a layer or call as written → the canonical case, for every vocabulary
(canonical → each native text → canonical is the identity over the library), checked against torch,
Keras and Chainer themselves (TF, JAX, flax and ONNX: tests/test_native_*.py), with every refusal
located by column; and `harness solve --mirror`."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import pytest

from harness import cli, loader, native
from harness.adapters import torch_padding as tp
from harness.adapters.native_call import NativeError, parse_call
from harness.loader.native import FRAMEWORKS, vocabulary
from harness.runner import reference
from harness.solve import mirror

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("op", "ndim", "in_channels", "out_channels", "kernel", "stride", "dilation", "groups", "bias", "padding",
          "input_size", "output_size")


@lru_cache(maxsize=1)
def _library():
    cases, _ = loader.load_paths([ROOT / "cases"], stacks=False)
    return tuple(cases)


def _torch_native_cases():
    cases = _library()
    return [c for c in cases if tp.spelling(c).native and c.layout == "channels_first"]


@cache
def _native_texts(framework: str):
    """(case, spelled) for every library case and every way `framework` writes it (the tests of every
    vocabulary share them)."""
    return tuple((c, t) for c in _library() for t in vocabulary(framework).native_texts(c))


def test_every_vocabulary_reads_and_writes():
    for framework in FRAMEWORKS:
        module = vocabulary(framework)
        assert callable(module.from_native) and callable(module.native_texts), framework


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_canonical_to_native_to_canonical_is_the_identity(framework):
    """Every native text of every library case reads back to the case. Up to a conv's unused trailing
    padding: (lo, hi) and (lo, hi') with the same output length compute the same numbers (the last
    window ends before either), so the padding's start and the output size must match; transposed
    crops exactly."""
    pairs = _native_texts(framework)
    same = [f for f in FIELDS if f != "padding"]
    for case, spelled in pairs:
        back = native.case(framework, spelled.text, list(case.input_size), batch=case.batch,
                           in_channels=case.in_channels, weight_shape=spelled.weight_shape)
        assert {f: getattr(back, f) for f in same} == {f: getattr(case, f) for f in same}, (case.id, spelled)
        starts = [lo for lo, _ in case.padding] == [lo for lo, _ in back.padding]
        assert back.padding == case.padding or (not case.is_transpose and starts), (case.id, spelled, back.padding)
    assert len(pairs) > 100, len(pairs)


def test_torch_computes_its_functional_texts_like_the_oracle():
    """The printed F.conv*/F.conv_transpose* call, run by torch on the case's float64 inputs with the
    weight of the printed shape, gives the oracle's y."""
    torch = pytest.importorskip("torch")
    import numpy as np

    pairs = [(c, t) for c, t in _native_texts("torch") if t.weight_shape][::11]
    for case, spelled in pairs:
        ref = reference(case, "float64")
        arrays = {n: None if (a := getattr(ref.inputs, n)) is None else torch.tensor(a) for n in ("x", "w", "b")}
        y = eval(spelled.text, {"torch": torch, **arrays})  # noqa: S307 - our own generated text, tested
        assert tuple(spelled.weight_shape) == tuple(arrays["w"].shape)
        np.testing.assert_allclose(y.numpy(), ref.values["y"], rtol=1e-12, atol=1e-12, err_msg=case.id)
    assert len(pairs) > 20


def test_torch_builds_the_layer_text_with_the_cases_shapes():
    torch = pytest.importorskip("torch")
    for case in _torch_native_cases()[::7]:
        layer = eval(tp.layer_text(case), {"torch": torch})  # noqa: S307 - our own generated text, tested
        y = layer(torch.zeros(case.x_shape))
        assert tuple(y.shape) == case.y_shape, (case.id, tp.layer_text(case))


@pytest.mark.parametrize("text,at,words", [
    ("nn.ConvTranspose2d(32, 1, 3, stride=2, output_padding=2)", "2)", "smaller than either stride or dilation"),
    ("nn.Conv2d(1, 32, 3, strde=2)", "strde", "no argument 'strde'; allowed: in_channels"),
    ("nn.Conv2d(1, 32, k)", "k)", "is not a literal"),
    ("  nn.Conv2d(1, 32, 3, stride=2, padding='same')", "'same'", "not supported for strided convolutions"),
    ("nn.Conv2d(1, 32, 3, padding_mode='reflect')", "'reflect'", "only 'zeros'"),
    ("nn.Conv2d(1, 32, *k)", "*k", "*args cannot be read"),
    ("nn.Conv2d(1, 32, (3, 3, 3))", "(3, 3, 3)", "kernel_size must be an int or 2 ints"),
    ("nn.Conv2d(1, 32, 3, stride=2, stride=1)", "stride=1", "keyword argument repeated"),
    ("nn.Linear(3, 4)", "nn", "is not one of Conv1d"),
    ("nn.Conv2d(1, 32,", None, "not a Python call"),
    ("F.conv_transpose2d(x, w, b, stride=2, output_padding=2)", "2)", "smaller than either stride or dilation"),
    ("F.conv2d(x, 3)", "3)", "weight must be a tensor"),
    ("F.conv2d(x, w, stride=(2, k))", "(2, k)", "is not a literal"),
    ("F.conv2d(x, w, b, 1, 0, 1, 1, 1)", "1)", "takes at most 7 positional arguments"),
])
def test_what_torch_refuses_is_refused_with_its_column(text, at, words):
    """The column points at the argument (1-based, in the text as given, leading blanks included)."""
    _assert_refused("torch", text, at, words, [8, 8], weight_shape=[8, 4, 3, 3] if text.startswith("F.") else None)


@pytest.mark.parametrize("framework,text,shape,words", [
    ("torch", "F.conv2d(x, w)", None, "give weight_shape, its shape in torch's layout (C_out, C_in/groups"),
    ("torch", "F.conv2d(x, w, groups=3)", [8, 4, 3, 3], "first axis must divide by groups=3"),
    ("torch", "F.conv2d(x, w)", [8, 4, 3], "weight_shape must be 4 positive ints"),
    ("torch", "nn.Conv2d(4, 8, 3)", [8, 4, 3, 3], "is a layer: its weight's shape follows from its arguments"),
    ("chainer", "F.deconvolution_nd(x, W)", None, "give weight_shape, its shape in Chainer's layout (C_in"),
])
def test_a_functional_calls_weight_shape_is_checked(framework, text, shape, words):
    with pytest.raises(NativeError) as err:
        native.case(framework, text, [8, 8], weight_shape=shape)
    assert words in err.value.message and err.value.field == "weight_shape", err.value


def _assert_refused(framework: str, text: str, at: str | None, words: str, size: list[int], **given) -> None:
    """`text` is refused with `words` in the message and the column of the last `at` in it."""
    with pytest.raises(NativeError) as err:
        native.case(framework, text, size, **given)
    assert words in err.value.message, err.value
    if at is not None:
        assert err.value.column == text.rindex(at) + 1, (err.value, text.rindex(at) + 1)


def test_parse_call_keeps_literals_and_columns():
    call = parse_call("torch.nn.ConvTranspose2d(32, 1, (3, 3), stride=2)")
    assert call.func == "torch.nn.ConvTranspose2d" and call.name == "ConvTranspose2d"
    text = "torch.nn.ConvTranspose2d(32, 1, (3, 3), stride=2)"
    assert [a.value for a in call.args] == [32, 1, (3, 3)]
    assert call.kwargs["stride"].column == text.index("2)") + 1 and call.kwargs["stride"].name_column == text.index("stride") + 1


def test_mirror_restores_the_encoder_input_in_torch():
    """The adjoint of nn.Conv2d(1, 32, 3, stride=2, padding=1) on 28×28 is the seed's
    ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1); every torch-native solution,
    built by torch itself, takes 14 back to 28."""
    torch = pytest.importorskip("torch")
    m = mirror("torch", "nn.Conv2d(1, 32, 3, stride=2, padding=1)", [28, 28], frameworks=["torch"])
    assert "padding=(1, 1), output_padding=(1, 1)" in m.adjoint_text
    assert tuple(eval(m.adjoint_text, {"torch": torch})(torch.zeros(1, 32, 14, 14)).shape) == (1, 1, 28, 28)  # noqa: S307
    (axes, found), = m.axes.items()
    assert axes == (0, 1) and (found[0].kernel, found[0].stride, found[0].padding) == (3, 2, (1, 0))
    for s in found:
        if "torch" in s.native_in:
            lo, hi = s.padding
            layer = torch.nn.ConvTranspose1d(1, 1, s.kernel, stride=s.stride, padding=lo, output_padding=lo - hi,
                                             dilation=s.dilation)
            assert layer(torch.zeros(1, 1, 14)).shape[-1] == 28, s


def test_cli_mirror(capsys):
    assert cli.main(["solve", "--mirror", "nn.Conv2d(1, 32, 3, stride=2, padding=1)", "--input-size", "28", "28",
                     "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "its adjoint restores (28, 28)" in out and "output_padding=(1, 1)" in out and "#1 the adjoint" in out
    assert cli.main(["solve", "--mirror", "nn.Conv2d(1, 32, 3, strde=2)", "--input-size", "28", "28"]) == 2
    assert "column 21: torch Conv2d has no argument 'strde'" in capsys.readouterr().out


SEED_COMMIT = "2133290"  # the last commit with the seed files in canonical fields only


@pytest.mark.parametrize("name", ["pytorch_examples", "anisotropic", "dcgan", "tf_conv2d_transpose"])
def test_the_seeds_in_their_authors_spelling_are_the_same_cases(name):
    """cases/seed/*.yaml, now written as the authors' PyTorch / TensorFlow / Chainer calls, load to exactly
    the canonical cases they held in canonical fields (git show of the file before; all but line and
    description)."""
    import subprocess
    from dataclasses import fields

    path = f"cases/seed/{name}.yaml"
    try:
        before = subprocess.run(["git", "show", f"{SEED_COMMIT}:{path}"], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("no git history here")
    new, errors = loader.load_paths([ROOT / path])
    old, old_errors = loader.load_text(before, str(ROOT / path))
    assert not errors and not old_errors and len(new) == len(old) > 0
    skip = {"line", "description"}
    for a, b in zip(new, old):
        assert {f.name: getattr(a, f.name) for f in fields(a) if f.name not in skip} == {
            f.name: getattr(b, f.name) for f in fields(b) if f.name not in skip}, a.id


def test_a_case_file_error_names_the_line_and_the_column_in_the_call(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("cases:\n  - id: good\n    torch: \"nn.Conv2d(1, 32, 3)\"\n    input_size: [8, 8]\n"
                 "  - id: bad\n    torch: \"nn.Conv2d(1, 32, 3, strde=2)\"\n    input_size: [8, 8]\n"
                 "  - id: twice\n    torch: \"nn.Conv2d(1, 32, 3)\"\n    kernel: 5\n    input_size: [8, 8]\n")
    cases, errors = loader.load_paths([f])
    assert [c.id for c in cases] == ["good"] and len(errors) == 2
    assert "c.yaml:6: case 'bad' field 'torch': column 21 of the call: torch Conv2d has no argument 'strde'" \
        in str(errors[0])
    assert "c.yaml:10: case 'twice' field 'kernel': the torch call already says the layer's kernel" in str(errors[1])


def test_translate_from_torch_spells_the_layer_everywhere_with_verdicts(capsys):
    call = "nn.ConvTranspose2d(32, 1, kernel_size=3, stride=2, padding=1, output_padding=1)"
    assert cli.main(["translate", "--from", "torch", call, "--input-size", "14", "14", "-f", "numpy",
                     "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "canonical padding ((1, 0), (1, 0)) → output (28, 28)" in out
    assert out.count("verdict: agrees with the oracle (y, dx, dw, db") == (2 if "torch (native)" in out else 1)
    assert cli.main(["translate", "--from", "torch", "nn.ConvTranspose2d(32, 1, 3, stride=2, output_padding=2)",
                     "--input-size", "14", "14"]) == 2
    assert "output padding must be smaller than either stride or dilation" in capsys.readouterr().out
    assert cli.main(["translate", "--from", "torch", call]) == 2


def test_chainer_builds_and_computes_its_native_texts():
    """In Chainer's own env (tox -e chainer): the printed link, built by chainer 7.8.1, gives the case's
    output shape; the printed chainer.functions call, on the case's float64 inputs, the oracle's y."""
    chainer = pytest.importorskip("chainer")
    import numpy as np

    pairs = [(c, t) for c, t in _native_texts("chainer") if c.layout == "channels_first"][::9]
    for case, spelled in pairs:
        if spelled.weight_shape is None:
            link = eval(spelled.text, {"chainer": chainer})  # noqa: S307 - our own generated text, tested
            assert tuple(link(np.zeros(case.x_shape, np.float32)).shape) == case.y_shape, (case.id, spelled)
            continue
        ref = reference(case, "float64")
        arrays = {n: getattr(ref.inputs, n) for n in ("x", "w", "b")}
        y = eval(spelled.text, {"chainer": chainer, **arrays})  # noqa: S307
        np.testing.assert_allclose(y.array, ref.values["y"], rtol=1e-12, atol=1e-12, err_msg=case.id)
    assert len(pairs) > 40 and any(t.weight_shape for _, t in pairs)


@pytest.mark.parametrize("text,at,words", [
    ("L.Deconvolution2D(512, 256, ksize=4, stride=2, pad=1, outsize=(20, 9))", "(20, 9)", "outsize 20 is not one"),
    ("L.Deconvolution2D(512, 256, ksize=4, stride=2, pad=1, cover_all=True)", "cover_all", "no argument 'cover_all'"),
    ("L.Convolution2D(256, 3)", None, "chainer Convolution2D needs ksize"),
    ("L.Convolution2D(256, 3, None)", "None", "ksize None"),
    ("L.ConvolutionND(4, 1, 1, 3)", "4", "ndim must be 1, 2 or 3"),
    ("F.deconvolution_2d(x, W, b, 2, 1, None, 1)", "1)", "at most 6 positional arguments"),
    ("F.convolution_2d(x, W, True)", "True", "b must be a tensor (a name such as b) or None"),
    ("F.convolution_2d(x, W, b, stride=s)", "s)", "'s' is not a literal"),
    ("L.Convolution2D(3, 8, 3) + b", "b", "is a layer: it adds its own bias"),
])
def test_what_chainer_refuses_is_refused_with_its_column(text, at, words):
    _assert_refused("chainer", text, at, words, [4, 4], weight_shape=[8, 3, 3, 3] if text.startswith("F.") else None)


def _keras_native_cases():
    from harness.adapters import keras_padding as kp

    return [(c, t) for c in _library() if (t := kp.layer_text(c))]


def test_canonical_to_keras_to_canonical_is_the_identity():
    pairs = _keras_native_cases()
    same = [f for f in FIELDS if f != "padding"] + ["layout"]
    for case, text in pairs:
        back = native.case("keras", text, list(case.input_size), batch=case.batch, in_channels=case.in_channels)
        assert {f: getattr(back, f) for f in same} == {f: getattr(case, f) for f in same}, (case.id, text)
        starts = [lo for lo, _ in case.padding] == [lo for lo, _ in back.padding]
        assert back.padding == case.padding or (not case.is_transpose and starts), (case.id, text, back.padding)
    assert len(pairs) > 100 and any("Transpose" in t for _, t in pairs)


def test_keras_own_output_shapes_match_the_parsed_layers():
    """Brute force over small transposed layers: Keras 3's own compute_output_shape for every spelling
    the parser accepts equals the canonical case's output size."""
    keras = pytest.importorskip("keras")
    checked = 0
    for word in ("valid", "same"):
        for k in range(1, 5):
            for s in range(1, 4):
                for op in [None, *range(s)]:
                    for i in (3, 4, 5):
                        extra = "" if op is None else f", output_padding={op}"
                        text = f"keras.layers.Conv1DTranspose(2, {k}, strides={s}, padding='{word}'{extra})"
                        try:
                            case = native.case("keras", text, [i], in_channels=3)
                        except NativeError:
                            continue
                        layer = eval(text, {"keras": keras})  # noqa: S307 - generated above
                        assert layer.compute_output_shape((1, i, 3))[1] == case.output_size[0], text
                        checked += 1
    assert checked > 100


def test_what_keras_refuses_is_refused_with_its_column():
    for text, at, words in [
        ("keras.layers.Conv2DTranspose(8, 3, strides=2, output_padding=2)", "2)", "must be smaller than strides"),
        ("keras.layers.Conv2D(8, 3, padding='causal')", "'causal'", "take 'valid' or 'same'"),
        ("keras.layers.Conv2D(8, 3, activation='relu')", "'relu'", "the convolution alone"),
        ("keras.layers.Conv2D(8, 3, strides=2, dilation_rate=2)", "2)", "strides > 1 together with dilation_rate"),
    ]:
        _assert_refused("keras", text, at, words, [8, 8], in_channels=3)
    with pytest.raises(NativeError, match="give in_channels"):
        native.case("keras", "keras.layers.Conv2D(8, 3)", [8, 8])


def test_keras_builds_the_layer_text_with_the_cases_shapes():
    """The printed Keras layer, built by Keras itself, gives the case's output shape (in its layout)."""
    keras = pytest.importorskip("keras")
    from harness.adapters import keras_padding as kp

    for case, text in _keras_native_cases()[::11]:
        layer = eval(text, {"keras": keras})  # noqa: S307 - our own generated text, tested
        y = case.y_shape if case.layout == "channels_first" else (case.batch, *case.output_size, case.out_channels)
        assert tuple(layer.compute_output_shape(kp.native_x_shape(case))) == y, (case.id, text)


def test_a_functional_call_in_a_case_file_takes_weight_shape_beside_it(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("cases:\n  - id: good\n    torch: \"F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)\"\n"
                 "    weight_shape: [32, 1, 3, 3]\n    input_size: [14, 14]\n"
                 "  - id: missing\n    torch: \"F.conv2d(x, w)\"\n    input_size: [8, 8]\n"
                 "  - id: groups\n    torch: \"F.conv2d(x, w, groups=3)\"\n    weight_shape: [8, 4, 3, 3]\n"
                 "    input_size: [8, 8]\n"
                 "  - id: alone\n    weight_shape: [8, 4, 3, 3]\n    op: conv2d\n    input_size: [8, 8]\n")
    cases, errors = loader.load_paths([f])
    assert [(c.id, c.in_channels, c.out_channels, c.output_size) for c in cases] == [("good", 32, 1, (28, 28))]
    assert [str(e).split(": ", 1)[0] for e in errors] == [f"{f}:6", f"{f}:11", f"{f}:14"]
    assert "case 'missing' field 'weight_shape': conv2d takes its weight as a tensor: give weight_shape" in str(errors[0])
    assert "field 'weight_shape': weight_shape [8, 4, 3, 3]: its first axis must divide by groups=3" in str(errors[1])
    assert "field 'weight_shape': weight_shape goes beside a functional call" in str(errors[2])


def test_translate_from_a_functional_call_converts_weights_from_its_own_layout(capsys):
    """--from tensorflow with the filter's shape: the weight conversions start from TF's layout, and the
    torch spelling of the same layer agrees with the oracle."""
    call = "tf.nn.bias_add(tf.nn.conv2d_transpose(x, w, output_shape=[1, 6, 6, 1], strides=[1, 2, 2, 1]), b)"
    assert cli.main(["translate", "--from", "tensorflow", call, "--weight-shape", "2", "2", "1", "1",
                     "--input-size", "3", "3", "-f", "torch"]) == 0
    out = capsys.readouterr().out
    assert "# weights from tensorflow's layout" in out and "w_torch = numpy.transpose(w_tf, (3, 2, 0, 1))" in out
    assert "verdict: agrees with the oracle (y, dx, dw, db" in out


def test_mirror_of_a_functional_encoder_is_its_functional_adjoint(capsys):
    torch = pytest.importorskip("torch")
    assert cli.main(["solve", "--mirror", "F.conv2d(x, w, stride=2, padding=1)", "--weight-shape", "32", "1", "3", "3",
                     "--input-size", "28", "28", "-f", "torch", "--calls", "0"]) == 0
    out = capsys.readouterr().out
    text = next(line.strip() for line in out.splitlines() if "conv_transpose2d(x, w" in line)
    assert "with weight_shape [32, 1, 3, 3] (the encoder's weight is its adjoint's)" in out
    y = eval(text, {"torch": torch, "x": torch.zeros(1, 32, 14, 14), "w": torch.zeros(32, 1, 3, 3)})  # noqa: S307
    assert tuple(y.shape) == (1, 1, 28, 28)
